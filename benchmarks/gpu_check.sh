#!/usr/bin/env bash
# The GPU check of the search engine, for the first session lent a GPU machine (under 8 minutes on one GPU).
#
# Prints, each measured side by side in one process (benchmarks/engine_v2.py):
#   1. the host floor: 8 cells, 16 filters, 4x4 images, batch 2, K=4, per sampled
#      architecture against one fixed architecture's compiled training step;
#   2. the paper's search network (8 cells, 16 filters, 32x32, batch 64, K=4): the same
#      ratio, the device syncs per step, and peak GPU memory per example of each engine;
#   3. the paper's search extrapolated to GPU-hours (benchmarks/paper.py, K=4 scaled to 16).
# Run from the repository root: `bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log`.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
python3 -c "import tensorflow as tf; print('TensorFlow', tf.__version__, tf.config.list_physical_devices('GPU'))"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
echo "== 1. host floor"
timeout 180 python3 benchmarks/engine_v2.py --num_cells=8 --image_size=4 --batch_size=2 --rounds=3 --compare_branches
echo "== 2. paper's search network"
timeout 180 python3 benchmarks/engine_v2.py --num_cells=8 --rounds=3 --memory_batches=32,64 --compare_branches
echo "== 3. paper's search extrapolated"
timeout 60 python3 benchmarks/paper.py --runs=search --steps=2 --num_samples=4 --counts=false --engine=eager
timeout 90 python3 benchmarks/paper.py --runs=search --steps=2 --num_samples=4 --counts=false
