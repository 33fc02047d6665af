#!/bin/bash
# Issue 3 real runs: train (query split 80/10/10 seed 0, default preset), evaluate.
set -e
cd /work/main
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
I=.venv/bin/irtnet
for name in "$@"; do
  /usr/bin/time -f "%e s wall, %M KB peak RSS" $I train runs/tables/$name.parquet -o runs/i3-$name --split 0.8,0.1,0.1 --seed 0 --quiet 2> runs/i3-$name.time
  tail -1 runs/i3-$name.time
  $I evaluate runs/i3-$name --markdown runs/i3-$name/evaluation.md
done
