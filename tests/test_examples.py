"""Every script in examples/ end to end with --smoke (tfds mock data, tiny networks), in subprocesses.

The search's distribution is the fine-tuning's prior, as the paper chains them;
the training scripts (on published genotypes) and the quickstart (with its
smallest flags) run alongside.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from keras_parsec.genotype import Genotype

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def command(script, *flags):
    return [sys.executable, str(EXAMPLES / script), *flags]


def environment():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def start(tmp_path, script, *flags):
    return subprocess.Popen(
        command(script, *flags),
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, script):
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, f"{script}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    return stdout


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every script's stdout: search then finetune on its prior; train, imagenet and quickstart alongside.

    The scripts run in parallel lanes: on this shared 2-core machine the wall
    time is set by contention, not by their CPU time (about 15 s each).
    """
    tmp_path = tmp_path_factory.mktemp("examples")
    lanes = {
        "train": start(tmp_path, "cifar10_train.py", "--smoke"),
        "imagenet": start(tmp_path, "imagenet_train.py", "--smoke", "--genotype=DARTS_V1", "--output=imagenet"),
        "finetune_alone": start(tmp_path, "cifar10_finetune.py", "--smoke", "--project_name=finetune_alone"),
        "quickstart": start(tmp_path, "quickstart_digits.py", "--smoke"),
        "parallel": start(tmp_path, "parallel_digits.py", "--smoke"),
    }
    results = {"search": finish(start(tmp_path, "cifar10_search.py", "--smoke"), "cifar10_search.py")}
    prior = tmp_path / "runs" / "cifar10_search" / "best_distribution.json"
    finetune = start(tmp_path, "cifar10_finetune.py", "--smoke", f"--prior={prior}")
    results["finetune"] = finish(finetune, "cifar10_finetune.py")
    for name, process in lanes.items():
        results[name] = finish(process, name)
    return tmp_path, results


def test_cifar10_search_writes_the_prior_and_the_sizes(ran):
    tmp_path, outputs = ran
    project = tmp_path / "runs" / "cifar10_search"
    assert (project / "best_genotype.json").exists()
    distribution = json.loads((project / "best_distribution.json").read_text())
    assert distribution["config"]["space"]["num_cells"] == 2
    assert "params" in outputs["search"] and "mult-adds" in outputs["search"]


def test_cifar10_finetune_starts_from_the_search_on_a_larger_network(ran):
    tmp_path, outputs = ran
    assert "Mode of the prior:" in outputs["finetune"] and "Mode after fine-tuning:" in outputs["finetune"]
    tuned = json.loads((tmp_path / "runs" / "cifar10_finetune" / "best_distribution.json").read_text())
    assert tuned["config"]["space"]["num_cells"] == 3  # transferred across cell counts
    genotype = (tmp_path / "runs" / "cifar10_finetune" / "best_genotype.json").read_text()
    assert Genotype.from_json(genotype).num_nodes == 2


def test_cifar10_train_saves_and_exports(ran):
    tmp_path, outputs = ran
    assert "Test accuracy" in outputs["train"]
    assert (tmp_path / "runs" / "cifar10_train" / "model.keras").exists()
    assert (tmp_path / "runs" / "cifar10_train" / "exported" / "saved_model.pb").exists()


def test_imagenet_train_reports_the_mobile_setting_counts(ran):
    tmp_path, outputs = ran
    assert "multiply-adds" in outputs["imagenet"] and "Top-1 accuracy" in outputs["imagenet"]
    assert (tmp_path / "imagenet" / "model.keras").exists()


def test_every_example_runs_alone_with_smoke(ran):
    _, outputs = ran
    alone = outputs["finetune_alone"]
    assert "uniform distribution" in alone and "Mode after fine-tuning:" in alone
    assert "Best genotype:" in outputs["parallel"]
    for script in EXAMPLES.glob("*.py"):
        assert "--smoke" in script.read_text(), script.name


def test_quickstart_digits(ran):
    _, outputs = ran
    assert "Best genotype" in outputs["quickstart"] and "test accuracy" in outputs["quickstart"]
