"""Algorithm 1 under tf.distribute and parallel search runs, each in fresh processes.

TensorFlow's devices and cluster are fixed when it starts, so every case runs
`tests/distributed_jobs.py` in subprocesses with a time limit, and stops every
process it started.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_jobs.py")
TIMEOUT = 480  # per job; lowered switches (the CPU default) build the compiled engine more slowly


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERASTUNER_", "TF_CONFIG"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    return env


def run_job(job, output, **env):
    result = subprocess.run(
        [sys.executable, JOBS, job, str(output)], env=child_env(**env), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """Two replicas against one device, in the three cases of `distributed_jobs.mirrored` (one process)."""
    output = tmp_path_factory.mktemp("mirrored") / "mirrored.npz"
    run_job("mirrored", output)
    result = np.load(output)
    assert int(result["replicas"]) == 2
    return result


def assert_same_as_one_device(result, case):
    """Same global batches and seed: pi, weights and importance weights agree to 1e-5."""
    get = lambda key: result[f"{case}_{key}"]  # noqa: E731
    assert get("importance").shape == (2, 3)  # two steps, K = 3
    importance = get("importance")
    if case == "nonfinite":  # the second sample is dropped after its train pass, the others renormalised
        importance = importance * [1.0, 0.0, 1.0]
        importance /= importance.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(importance, get("reference_importance"), atol=1e-5)
    np.testing.assert_allclose(get("logits"), get("reference_logits"), atol=1e-5)
    assert not np.allclose(get("logits"), 0.0)  # pi moved
    assert float(get("weight_error")) < 1e-5
    assert float(get("copies_error")) == 0.0  # pi identical on both replicas


@pytest.mark.slow
def test_two_replicas_equal_one_device_whose_batch_norm_sees_the_same_halves(mirrored):
    assert_same_as_one_device(mirrored, "plain")
    assert int(mirrored["plain_train_passes"]) == 2 * 3 * 2  # steps x K x replicas
    assert int(mirrored["plain_nonfinite_warnings"]) == 0


@pytest.mark.slow
def test_a_repeated_sample_runs_once_on_every_replica_and_changes_nothing(mirrored):
    assert_same_as_one_device(mirrored, "duplicates")  # the reference runs all three samples
    assert int(mirrored["duplicates_search_passes"]) == 2 * 2 * 2  # steps x distinct x replicas
    assert int(mirrored["duplicates_train_passes"]) == 2 * 2 * 2


@pytest.mark.slow
def test_a_nan_train_loss_on_one_replica_drops_that_architecture_on_every_replica(mirrored):
    """Equals one device on which that architecture had log-likelihood -inf, so weight 0."""
    assert_same_as_one_device(mirrored, "nonfinite")
    importance = mirrored["nonfinite_importance"]
    assert np.all(importance[:, 1] > 0)  # its search likelihood was finite: it was dropped after the train pass
    assert int(mirrored["nonfinite_nonfinite_warnings"]) == 2  # one per step


@pytest.fixture(scope="module")
def mirrored_compiled(tmp_path_factory):
    """The compiled engine: two replicas against one device, in the same three cases."""
    output = tmp_path_factory.mktemp("mirrored_compiled") / "mirrored.npz"
    run_job("mirrored_compiled", output)
    result = np.load(output)
    assert int(result["replicas"]) == 2
    return result


@pytest.mark.slow
@pytest.mark.parametrize("case", ["plain", "duplicates", "nonfinite"])
def test_the_compiled_engine_on_two_replicas_equals_one_device(mirrored_compiled, case):
    """Every weight, pi and the importance weights to 1e-5; pi and the weights identical on both replicas."""
    assert_same_as_one_device(mirrored_compiled, case)
    assert 0.0 <= float(mirrored_compiled[f"{case}_evaluate_accuracy"]) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("case", ["plain", "duplicates", "nonfinite"])
def test_the_compiled_engine_on_two_replicas_traces_its_passes_in_the_first_step_only(mirrored_compiled, case):
    """MirroredStrategy's retracing warning counts every function it wraps together; the passes themselves
    trace once (search forwards, train pass: on each replica) and never again for new architectures."""
    traces = mirrored_compiled[f"{case}_traces_after_step"]
    assert len(traces) == 2 and traces[0] > 0
    assert traces[1] == traces[0]


@pytest.mark.slow
def test_the_compiled_engine_runs_a_repeat_once_and_reruns_a_step_whose_nan_one_replica_saw(mirrored_compiled):
    """One call runs a pass on both replicas: steps x distinct architectures, plus the reruns."""
    assert int(mirrored_compiled["plain_train_passes"]) == 2 * 3
    assert int(mirrored_compiled["duplicates_train_passes"]) == 2 * 2
    # Replica 1 alone saw the NaN, after replica 0 had added that gradient: the two others run again.
    assert int(mirrored_compiled["nonfinite_train_passes"]) == 2 * (3 + 2)
    assert int(mirrored_compiled["nonfinite_nonfinite_warnings"]) == 2
    assert int(mirrored_compiled["plain_nonfinite_warnings"]) == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Starts job processes and, whatever happens, stops every one still running."""

    def __init__(self, folder):
        self.folder = folder
        self.started = []

    def start(self, name, job, output, **env):
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen(
            [sys.executable, JOBS, job, str(output)], env=child_env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        self.started.append((process, log))
        return process

    def wait(self, process, name):
        try:
            code = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            code = "timeout"
        assert code == 0, f"{name} ended with {code}:\n" + (self.folder / f"{name}.log").read_text()[-4000:]

    def stop_all(self):
        for process, log in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()
            log.close()


def wait_for(path, process, seconds=TIMEOUT):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, "the worker ended before reaching its pause"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


@pytest.mark.slow
def test_chief_and_two_workers_survive_a_killed_worker_and_match_one_process(tmp_path):
    """Keras Tuner's distributed mode on loopback: worker1 is killed mid-run and started again."""
    processes = Processes(tmp_path)
    shared = tmp_path / "shared"
    env = {
        "PARSEC_TEST_DIR": str(shared),
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(free_port()),
    }
    marker = tmp_path / "paused"
    try:
        chief = processes.start("chief", "tuner", tmp_path / "chief.json", KERASTUNER_TUNER_ID="chief", **env)
        worker1 = processes.start(
            "worker1",
            "tuner",
            tmp_path / "w1.json",
            KERASTUNER_TUNER_ID="worker1",
            PARSEC_TEST_PAUSE=str(marker),
            **env,
        )
        wait_for(marker, worker1)  # worker1 holds trial 0, its first epoch saved
        worker0 = processes.start("worker0", "tuner", tmp_path / "w0.json", KERASTUNER_TUNER_ID="worker0", **env)
        worker1.kill()  # mid-run
        worker1.wait()
        restarted = processes.start(
            "worker1_again", "tuner", tmp_path / "w1.json", KERASTUNER_TUNER_ID="worker1", **env
        )
        for process, name in ((worker0, "worker0"), (restarted, "worker1_again"), (chief, "chief")):
            processes.wait(process, name)
    finally:
        processes.stop_all()
    assert "Resuming trial 0 from epoch 1/2" in (tmp_path / "worker1_again.log").read_text()
    run_job("tuner", tmp_path / "single.json", PARSEC_TEST_DIR=str(tmp_path / "single"))
    distributed = json.loads((tmp_path / "chief.json").read_text())
    single = json.loads((tmp_path / "single.json").read_text())
    assert distributed["statuses"] == single["statuses"] == {"0": "COMPLETED", "1": "COMPLETED"}
    assert sorted(distributed["runs"]) == ["0", "1"]
    for trial_id, run in single["runs"].items():
        other = distributed["runs"][trial_id]
        assert sorted(other) == sorted(run)
        assert other["mode"] == run["mode"]
        assert len(other["history"]["val_accuracy"]) == 2  # the killed run was resumed, not restarted
        np.testing.assert_allclose(other["logits"], run["logits"], atol=1e-4)
        np.testing.assert_allclose(other["history"]["loss"], run["history"]["loss"], rtol=1e-4)
    assert distributed["best_genotype"] == single["best_genotype"]
    assert distributed["best_genotype_type"] == "Genotype"
    assert distributed["best_distribution_type"] == "ArchitectureDistribution"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["compiled", "eager"])
def test_one_search_across_two_workers_of_multi_worker_mirrored_strategy(tmp_path, engine):
    """TF_CONFIG on loopback: both workers end with the same pi; only the chief writes the project."""
    processes = Processes(tmp_path)
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    shared = tmp_path / "shared"
    try:
        workers = [
            processes.start(
                f"worker{index}",
                "multi_worker",
                tmp_path / f"worker{index}.json",
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                PARSEC_TEST_DIR=str(shared),
                PARSEC_TEST_ENGINE=engine,
            )
            for index in range(2)
        ]
        for index, process in enumerate(workers):
            processes.wait(process, f"worker{index}")
    finally:
        processes.stop_all()
    results = [json.loads((tmp_path / f"worker{index}.json").read_text()) for index in range(2)]
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0]["statuses"] == results[1]["statuses"] == {"0": "COMPLETED"}
    np.testing.assert_array_equal(results[0]["best_logits"], results[1]["best_logits"])
    assert not np.allclose(results[0]["best_logits"], 0.0)
    assert results[0]["runs"]["0"]["history"] == results[1]["runs"]["0"]["history"]
    assert results[0]["directory"] == str(shared / "p")
    assert results[1]["directory"] == str(shared / ".worker_worker_1" / "p")
    assert (shared / "p" / "trial_0" / "run.json").exists()
