#!/bin/bash
# The GPU figures of README's Speed section in one run of at most 9.5
# minutes (inside one 10-minute call):
# torch vs JAX per-token decoding step at 12 x 768, batch 64 (guidance 4.0,
# both passes in one batch, bfloat16) and whether the CUDA graph loop's
# greedy tokens equal the other loops', then the ViT-VQGAN Small training
# step in bfloat16 on JAX (images/s, peak memory): as the preset trains
# (batch 32), without remat at batch 64 (the fastest case so far), and at
# batch 32 without the discriminator, with cuBLAS GEMMs only and with XLA
# compiling on one thread (TRAINING_CASES, names separated by ';', picks
# others from vit_vqgan_throughput.py's GPU_CASES); then the step's attention
# and discriminator timed alone, and where its GPU time goes (jax.profiler).
#
#     OUT=gpu_results bash benchmarks/gpu_checks.sh
#
# Needs JAX and torch with CUDA, keras and keras-hub; TensorFlow is not
# used. Each benchmark has a time limit, so a slow compile costs its own
# figures only; everything printed is also saved under $OUT.
set -u
OUT=$(realpath -m "${OUT:-gpu_results}")
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv |
    tee "$OUT/device.txt"
KERAS_BACKEND=jax python3 -c "import jax, torch, keras, keras_hub; print('jax', jax.__version__,
'torch', torch.__version__, 'keras', keras.__version__, 'keras_hub',
keras_hub.__version__, jax.devices())" 2>&1 | tee -a "$OUT/device.txt"
timeout "${DECODING_LIMIT:-140}" python3 decoding_overhead.py \
    --hidden-dim 768 --num-layers 12 --batch 64 --guidance 4.0 \
    --repeats 2 --dtype bfloat16 --backends jax,torch 2>&1 |
    tee "$OUT/decoding.txt"
# In order of need: the limit cuts the last ones first.
CASES="small, mixed_bfloat16, 32;small, mixed_bfloat16, no remat, 64"
CASES+=";small, mixed_bfloat16, no discriminator, 32"
CASES+=";small, mixed_bfloat16, cuBLAS GEMMs, 32"
CASES+=";small, mixed_bfloat16, serial compilation, 32"
timeout "${TRAINING_LIMIT:-290}" python3 vit_vqgan_throughput.py --gpu \
    --backends jax --cases "${TRAINING_CASES:-$CASES}" 2>&1 |
    tee "$OUT/vit_vqgan.txt"
KERAS_BACKEND=jax timeout "${PARTS_LIMIT:-60}" python3 \
    vit_vqgan_step_parts.py --policy mixed_bfloat16 --batch 32 2>&1 |
    tee "$OUT/vit_vqgan_step_parts.txt"
KERAS_BACKEND=jax timeout "${PROFILE_LIMIT:-80}" python3 vit_vqgan_profile.py \
    --policy mixed_bfloat16 --batch 32 2>&1 | tee "$OUT/vit_vqgan_profile.txt"
