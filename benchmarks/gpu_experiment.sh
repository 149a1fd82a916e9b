#!/bin/bash
# The device command for issue 10's GPU run (a bare H200 machine: python3 with torch, numpy 2.x and OpenCV; no
# mediapipe, Albumentations or pydantic, no network). Pack first, here: python benchmarks/gpu_pack.py
# then call the device tool with
#   command: bash benchmarks/gpu_experiment.sh      carry: ["gpu-pack"]      timeout_s: 600
# It writes results.json, table.md, learning-curves.png, loader.json and log.txt under $OUT (5 files), then
# back here: python benchmarks/gpu_experiment.py import <files_at>/results.json
# BUDGET_S (default 480 s) bounds the training and evaluation; the machine's start is not counted in it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU";
  "$PYTHON" -c "import torch, numpy, cv2; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cv2', cv2.__version__)"
} 2>&1 | tee "$OUT/log.txt"
"$PYTHON" benchmarks/gpu_experiment.py run --pack "${PACK:-gpu-pack/faces.npz}" --out "$OUT" \
    --budget-s "${BUDGET_S:-480}" "$@" 2>&1 | tee -a "$OUT/log.txt"
