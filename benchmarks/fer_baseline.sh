#!/usr/bin/env bash
# One CPU config for every model (or MODELS="resmasking cbam_resnet50"), unmasked by default. Checkpoints go to
# runs/ (ignored); the JSON logs and PNG plots are copied to benchmarks/results/fer-CONFIG-MASK/<model>/.
#   bash benchmarks/fer_baseline.sh [CONFIG] [MASK]
#   MODELS="resmasking cbam_resnet50" bash benchmarks/fer_baseline.sh cpu-fast none
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-cpu-tiny}
MASK=${2:-none}
DATA=${MASKGEN_DATA:-../shared/data}/lfw-expressions
for MODEL in ${MODELS:-mobilenet_v2 resmasking cbam_resnet50 vgg19}; do
  OUT=runs/fer-$CONFIG-$MASK/$MODEL
  # --overwrite: the script owns runs/fer-*, and a rerun starts each model afresh
  .venv/bin/fer train --data "$DATA" --model $MODEL --config $CONFIG --mask $MASK --out $OUT --seed 0 --overwrite
  DEST=benchmarks/results/fer-$CONFIG-$MASK/$MODEL
  mkdir -p $DEST
  cp $OUT/train.json $OUT/history.csv $OUT/learning-curve.png $DEST/
done
