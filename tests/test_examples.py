"""Every script in examples/ end to end with --smoke (tfds mock data, tiny networks), in subprocesses.

The CIFAR-10 scripts run as the paper chains them: the search's distribution is
the fine-tuning's prior, the fine-tuned genotype is trained from scratch and on
ImageNet. The quickstart runs alongside with its smallest flags.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def command(script, *flags):
    return [sys.executable, str(EXAMPLES / script), *flags]


def environment():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def run(tmp_path, script, *flags):
    result = subprocess.run(
        command(script, *flags), cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{script}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def chained(tmp_path_factory):
    """search -> finetune -> train -> imagenet, with the quickstart running alongside."""
    tmp_path = tmp_path_factory.mktemp("examples")
    quickstart = subprocess.Popen(
        command("quickstart_digits.py", "--epochs=1", "--train_epochs=1", "--num_samples=1", "--directory=runs"),
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outputs = {"search": run(tmp_path, "cifar10_search.py", "--smoke")}
    prior = tmp_path / "runs" / "cifar10_search" / "best_distribution.json"
    outputs["finetune"] = run(tmp_path, "cifar10_finetune.py", "--smoke", f"--prior={prior}")
    genotype = tmp_path / "runs" / "cifar10_finetune" / "best_genotype.json"
    outputs["train"] = run(tmp_path, "cifar10_train.py", "--smoke", f"--genotype={genotype}", "--output=train")
    outputs["imagenet"] = run(tmp_path, "imagenet_train.py", "--smoke", f"--genotype={genotype}", "--output=imagenet")
    stdout, stderr = quickstart.communicate(timeout=600)
    assert quickstart.returncode == 0, f"quickstart_digits.py:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    outputs["quickstart"] = stdout
    return tmp_path, outputs


def test_cifar10_search_writes_the_prior_and_the_sizes(chained):
    tmp_path, outputs = chained
    project = tmp_path / "runs" / "cifar10_search"
    assert (project / "best_genotype.json").exists()
    distribution = json.loads((project / "best_distribution.json").read_text())
    assert distribution["config"]["space"]["num_cells"] == 2
    assert "params" in outputs["search"] and "mult-adds" in outputs["search"]


def test_cifar10_finetune_starts_from_the_search_on_a_larger_network(chained):
    tmp_path, outputs = chained
    assert "Mode of the prior:" in outputs["finetune"] and "Mode after fine-tuning:" in outputs["finetune"]
    tuned = json.loads((tmp_path / "runs" / "cifar10_finetune" / "best_distribution.json").read_text())
    assert tuned["config"]["space"]["num_cells"] == 3  # transferred across cell counts


def test_cifar10_train_saves_and_exports(chained):
    tmp_path, outputs = chained
    assert "Test accuracy" in outputs["train"]
    assert (tmp_path / "train" / "model.keras").exists()
    assert (tmp_path / "train" / "exported" / "saved_model.pb").exists()


def test_imagenet_train_reports_the_mobile_setting_counts(chained):
    tmp_path, outputs = chained
    assert "multiply-adds" in outputs["imagenet"] and "Top-1 accuracy" in outputs["imagenet"]
    assert (tmp_path / "imagenet" / "model.keras").exists()


def test_quickstart_digits(chained):
    _, outputs = chained
    assert "Best genotype" in outputs["quickstart"] and "test accuracy" in outputs["quickstart"]
