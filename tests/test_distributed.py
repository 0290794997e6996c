"""Algorithm 1 under tf.distribute and parallel search runs, each in fresh processes.

TensorFlow's devices and cluster are fixed when it starts, so every case runs
`tests/distributed_jobs.py` in subprocesses with a time limit, and stops every
process it started.
"""

import os
import subprocess
import sys

import numpy as np

JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_jobs.py")
TIMEOUT = 240


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERASTUNER_", "TF_CONFIG"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    return env


def run_job(job, output, **env):
    result = subprocess.run(
        [sys.executable, JOBS, job, str(output)], env=child_env(**env), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_two_replicas_equal_one_device_whose_batch_norm_sees_the_same_halves(tmp_path):
    """Same global batches and seed: pi, weights and importance weights agree to 1e-5."""
    output = tmp_path / "mirrored.npz"
    run_job("mirrored", output)
    result = np.load(output)
    assert int(result["replicas"]) == 2
    assert result["importance"].shape == (2, 3)  # two steps, K = 3
    np.testing.assert_allclose(result["importance"], result["reference_importance"], atol=1e-5)
    np.testing.assert_allclose(result["logits"], result["reference_logits"], atol=1e-5)
    assert not np.allclose(result["logits"], 0.0)  # pi moved
    assert float(result["weight_error"]) < 1e-5
    assert float(result["copies_error"]) == 0.0  # pi identical on both replicas
