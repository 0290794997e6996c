"""Parameter and multiply-add counts of a genotype's final network (the paper's tables report them).

Both counts follow DARTS' conventions: parameters are the trainable weights of
the network *without* its auxiliary head (which is dropped after training), and
multiply-adds are those of the convolutions and the classifier of one image in
inference (pooling, batch normalisation, ReLU and additions are not counted).
The ImageNet "mobile setting" of the paper's Table 2 means < 600M multiply-adds
at 224x224.

DARTS_V2 measured with these functions: 3.35M parameters on CIFAR-10 (20 cells,
36 filters; DARTS reports 3.3M), 4.72M parameters and 530M multiply-adds on
ImageNet (14 cells, 48 filters; DARTS reports 4.7M and 574M, counting more than
convolutions; see BENCHMARKS.md).
"""

import numpy as np
import tensorflow as tf

from keras_parsec.errors import invalid_argument
from keras_parsec.final.recipes import IMAGENET_RECIPE, PAPER_NETWORKS, network_size

MOBILE_SETTING_MULTIPLY_ADDS = 600_000_000

# The networks a genotype is counted in by default: the paper's, sized by their recipes.
SETTINGS = {
    name: {"num_classes": num_classes, **network_size(recipe)} for name, (recipe, num_classes) in PAPER_NETWORKS.items()
}


def _network(model_or_genotype, setting, network_kwargs):
    """The `CellNetwork` to count: the one given, or one built for `genotype` without auxiliary head."""
    from keras_parsec.final.networks import CellNetwork

    if isinstance(model_or_genotype, CellNetwork):
        if network_kwargs or setting is not None:
            raise invalid_argument(
                "setting",
                "no setting or network arguments when a built CellNetwork is passed",
                setting if setting is not None else network_kwargs,
                "pass the genotype instead to build a network of another size",
            )
        return model_or_genotype
    return CellNetwork(model_or_genotype, **network_arguments(setting, network_kwargs))


def network_arguments(setting=None, network_kwargs=None) -> dict:
    """The `CellNetwork` arguments a genotype is counted at: the setting's, overridden, without head or drop path.

    Args:
        setting: "cifar10" (default) or "imagenet", a key of `SETTINGS`.
        network_kwargs: optional dict of `CellNetwork` arguments that override the setting's.

    Returns:
        A new dict of `CellNetwork` keyword arguments.
    """
    if setting is None:
        setting = "cifar10"
    if setting not in SETTINGS:
        raise invalid_argument("setting", f"one of {sorted(SETTINGS)}", setting, 'pass "cifar10" or "imagenet"')
    return {**SETTINGS[setting], **(network_kwargs or {}), "auxiliary_weight": 0.0, "drop_path_rate": 0.0}


def count_params(model_or_genotype, setting=None, **network_kwargs) -> int:
    """Trainable parameters of a final network, auxiliary head excluded (DARTS' "Params").

    Args:
        model_or_genotype: a built `CellNetwork`, or a `Genotype` (or its dict)
            whose network is built for counting.
        setting: for a genotype, "cifar10" (default: 20 cells, 36 filters,
            32x32) or "imagenet" (14 cells, 48 filters, 224x224, imagenet stem).
        **network_kwargs: for a genotype, `CellNetwork` arguments that override
            the setting's (num_cells, filters, input_shape, num_classes, ...).

    Returns:
        The number of parameters, an int.

    Example:

    ```python
    count_params(DARTS_V2)  # about 3.3M
    ```
    """
    model = _network(model_or_genotype, setting, network_kwargs)
    head = model.auxiliary_head
    excluded = {id(w) for w in head.trainable_weights} if head is not None else set()
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights if id(w) not in excluded))


def count_flops(model_or_genotype, setting=None, **network_kwargs) -> int:
    """Multiply-adds of one image through a final network in inference (DARTS' "+x").

    Counts the convolutions (regular, depthwise, dilated) and the classifier of
    the traced inference graph; the auxiliary head does not run in inference.

    Args:
        model_or_genotype: a built `CellNetwork`, or a `Genotype` (or its dict).
        setting: for a genotype, "cifar10" (default) or "imagenet"; see `count_params`.
        **network_kwargs: for a genotype, overrides of the setting's `CellNetwork` arguments.

    Returns:
        The number of multiply-adds for one image, an int.

    Example:

    ```python
    count_flops(DARTS_V2, "imagenet") < MOBILE_SETTING_MULTIPLY_ADDS  # True: about 530M
    ```
    """
    model = _network(model_or_genotype, setting, network_kwargs)
    spec = tf.TensorSpec((1, *model.image_shape), model.input_dtype)
    graph = tf.function(lambda images: model(images, training=False)).get_concrete_function(spec).graph
    return int(sum(_multiply_adds(op) for op in graph.get_operations()))


def _multiply_adds(op):
    if op.type not in ("Conv2D", "DepthwiseConv2dNative", "MatMul"):
        return 0
    output = op.outputs[0].shape
    kernel = op.inputs[1].shape
    if not output.is_fully_defined() or not kernel.is_fully_defined():
        raise invalid_argument("model", "a network with static shapes", f"{op.type} of shape {output}")
    if op.type == "Conv2D":  # kernel [kh, kw, in, out]: one kh*kw*in dot product per output value
        return int(np.prod(output)) * kernel[0] * kernel[1] * kernel[2]
    if op.type == "DepthwiseConv2dNative":  # kernel [kh, kw, in, multiplier]
        return int(np.prod(output)) * kernel[0] * kernel[1]
    inner = op.inputs[0].shape[0 if op.get_attr("transpose_a") else 1]
    return int(np.prod(output)) * int(inner)


def check_mobile_setting(model_or_genotype, **network_kwargs) -> int:
    """Multiply-adds of the ImageNet network, or an error if above the mobile setting (600M).

    Args:
        model_or_genotype: a built ImageNet `CellNetwork`, or a genotype (built
            as 14 cells, 48 filters, 224x224 unless overridden).
        **network_kwargs: overrides of the ImageNet `CellNetwork` arguments.

    Returns:
        The multiply-adds, an int below 600M.

    Raises:
        InvalidArgumentError: above 600M multiply-adds.
    """
    from keras_parsec.final.networks import CellNetwork

    setting = None if isinstance(model_or_genotype, CellNetwork) else "imagenet"
    flops = count_flops(model_or_genotype, setting, **network_kwargs)
    if flops >= MOBILE_SETTING_MULTIPLY_ADDS:
        raise invalid_argument(
            "model_or_genotype",
            f"a network under the mobile setting ({MOBILE_SETTING_MULTIPLY_ADDS:,} multiply-adds)",
            f"{flops:,} multiply-adds",
            f"use fewer cells or filters (DARTS: {IMAGENET_RECIPE.num_cells} cells, {IMAGENET_RECIPE.filters} filters)",
        )
    return flops


def describe_counts(model_or_genotype, setting=None, **network_kwargs) -> str:
    """Parameters and multiply-adds of one network (built once) as text, e.g. "3.35M params, 528.4M mult-adds"."""
    model = _network(model_or_genotype, setting, network_kwargs)
    return f"{count_params(model) / 1e6:.3f}M params, {count_flops(model) / 1e6:.1f}M mult-adds"
