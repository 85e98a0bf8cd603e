#!/usr/bin/env bash
# Issue 10's reference ("the classic recipe"): one scale at 512 px, content init, jcjohnson's loss
# weights (content 5, style 100, TV 1e-3), 1000 L-BFGS iterations, for dog x matisse and
# landscape x monet. About half an hour a pair on a quiet 2-core machine: run it alone, then
#   node --import tsx bench/reference-quality.ts --peak <peak.c GFLOP/s> --note "<load, machine>"
# to score the pictures into bench/reference-quality.json.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${REFERENCE_DIR:-out/reference}
weights=${STYLE_TRANSFER_WEIGHTS:-../shared/weights/vgg19-caffe-q8.safetensors}
mkdir -p "$dir"
for pair in dog:matisse landscape:monet; do
  content=${pair%%:*}
  style=${pair##*:}
  /usr/bin/time -v ./bin/style-transfer.js "../shared/images/$content.jpg" "../shared/images/$style.jpg" -o "$dir/$content-$style.png" \
    --size 512 --scale-iterations 0 --start-size 512 --iterations 1000 --content-weight 5 --style-weight 100 --tv-weight 1e-3 \
    --init content --padding zero --weights "$weights" --json >"$dir/$content-$style.jsonl" 2>"$dir/$content-$style.time"
done
