#!/usr/bin/env bash
# The smallest CPU config for every model, unmasked (issue: fer baseline). Checkpoints go to runs/ (ignored);
# the JSON logs and PNG plots are copied to benchmarks/results/fer-cpu-tiny/<model>/.
#   bash benchmarks/fer_baseline.sh [CONFIG] [MASK]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-cpu-tiny}
MASK=${2:-none}
DATA=${MASKGEN_DATA:-../shared/data}/lfw-expressions
for MODEL in mobilenet_v2 resmasking cbam_resnet50 vgg19; do
  OUT=runs/fer-$CONFIG-$MASK/$MODEL
  .venv/bin/fer train --data "$DATA" --model $MODEL --config $CONFIG --mask $MASK --out $OUT --seed 0
  DEST=benchmarks/results/fer-$CONFIG-$MASK/$MODEL
  mkdir -p $DEST
  cp $OUT/train.json $OUT/history.csv $OUT/learning-curve.png $DEST/
done
