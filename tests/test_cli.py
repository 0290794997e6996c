"""The `keras-parsec` command end to end, from a subprocess, on offline digits."""

import json
import os
import subprocess
import sys

import pytest

TINY = ["--num_cells=2", "--num_nodes=2", "--filters=4", "--epochs=1", "--verbose=0", "--batch_size=64"]


def keras_parsec(tmp_path, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "keras_parsec_cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    result = keras_parsec(tmp_path, "search", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path, result.stdout


def test_search_reports_the_best_genotype_and_every_file(searched):
    tmp_path, stdout = searched
    assert "Best genotype" in stdout and "Mode validation accuracy" in stdout
    ess, k = stdout.split("Effective sample size in the last epoch: ")[1].split(" (")[0].split(" of K=")
    assert k == "4" and 1.0 <= float(ess) <= 4.0  # between one sample taking all the weight and uniform weights
    project = tmp_path / "runs" / "digits"
    for name in ("best_genotype.json", "best_distribution.json", "best_genotype.png", "search.png", "oracle.json"):
        assert (project / name).exists(), name
        assert str(project / name).replace(str(tmp_path) + os.sep, "") in stdout or name == "oracle.json"
    genotype = json.loads((project / "best_genotype.json").read_text())
    assert len(genotype["normal"]) == 4


def test_train_export_and_show_a_found_genotype(searched):
    tmp_path, _ = searched
    genotype = os.path.join("runs", "digits", "best_genotype.json")
    trained = keras_parsec(tmp_path, "train", f"--genotype={genotype}", "--project_name=final", *TINY)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Test accuracy" in trained.stdout
    model = os.path.join("runs", "final", "model.keras")
    assert (tmp_path / model).exists()
    exported = keras_parsec(tmp_path, "export", f"--model={model}", "--output=exported")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (tmp_path / "exported" / "saved_model.pb").exists()
    again = keras_parsec(tmp_path, "export", f"--model={model}", "--output=exported")
    assert again.returncode == 2 and "nothing is overwritten" in again.stderr
    shown = keras_parsec(tmp_path, "show", "--run=runs/digits", "--output=cells.png")
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "trial 0" in shown.stdout and (tmp_path / "cells.png").exists()


def test_train_from_a_run_uses_the_searched_size_and_the_recipe(searched):
    tmp_path, stdout = searched
    assert "Next: keras-parsec train --run=" in stdout
    trained = keras_parsec(
        tmp_path, "train", "--run=runs/digits", "--project_name=from_run", "--epochs=1", "--verbose=0"
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Training 2 cells, 4 filters, the CIFAR-10 recipe, 1 epochs." in trained.stdout  # TINY's search size
    assert (tmp_path / "runs" / "from_run" / "model.keras").exists()


@pytest.mark.parametrize(
    "command, own, foreign",
    [
        (
            "search",
            ["--num_samples", "--strategy", "--early_stopping", "--prior", "--augment", "--image_size"],
            "--model",
        ),
        ("train", ["--run", "--genotype", "--validation_split", "--epochs"], "--num_samples"),
        ("export", ["--model", "--output"], "--num_cells"),
        ("show", ["--run", "--genotype", "--dataset"], "--epochs"),
    ],
)
def test_each_command_has_help_that_lists_its_own_flags(tmp_path, command, own, foreign):
    result = keras_parsec(tmp_path, command, "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(flag in result.stdout for flag in own) and foreign not in result.stdout
    assert "Try --helpfull" not in result.stdout


def test_the_top_level_help_names_the_commands(tmp_path):
    result = keras_parsec(tmp_path, "--help")
    assert result.returncode == 0 and all(command in result.stdout for command in ("search", "train", "export", "show"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["dance"], "unknown command"),
        (["train"], "--genotype"),
        (["export"], "--model"),
        (["show"], "--genotype=PATH or --run=DIR"),
    ],
)
def test_bad_commands_say_what_to_do(tmp_path, args, message):
    result = keras_parsec(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("args", [["search", "--help"], ["--help"], ["dance"], ["search", "--epochs=many"]])
def test_help_and_bad_arguments_answer_without_loading_tensorflow(args):
    """`keras_parsec_cli` parses before anything imports TensorFlow, so help and usage errors take a blink."""
    code = (
        "import sys, keras_parsec_cli\n"
        f"try:\n    keras_parsec_cli.main({args!r})\nexcept SystemExit as e:\n    status = e.code\n"
        "print('STATUS', status, 'TENSORFLOW', 'tensorflow' in sys.modules)"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    expected = 0 if "--help" in args else 2
    assert f"STATUS {expected} TENSORFLOW False" in result.stdout, result.stdout + result.stderr[-2000:]
