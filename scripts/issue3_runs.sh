#!/bin/bash
# Issue 3's real-data runs: import, train (query split 80/10/10, seed 0, the default preset), evaluate.
#   bash scripts/issue3_runs.sh [llmrouter routerdc7 mmlupro]
set -e
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
I=.venv/bin/irtnet
D=../shared/data
declare -A SRC=([llmrouter]="llmrouter $D/llmrouter-dcrouter"
                [routerdc7]="routerdc $D/routerdc/datasets/split2_model7"
                [mmlupro]="mmlu-pro $D/mmlu-pro-outputs")
mkdir -p runs/tables
for name in "${@:-llmrouter routerdc7 mmlupro}"; do
  for n in $name; do
    [ -f runs/tables/$n.parquet ] || $I data import ${SRC[$n]} -o runs/tables/$n.parquet
    /usr/bin/time -f "%e s wall, %M KB peak RSS" $I train runs/tables/$n.parquet -o runs/i3-$n \
      --split 0.8,0.1,0.1 --seed 0 --quiet --overwrite 2> runs/i3-$n.time
    tail -1 runs/i3-$n.time
    $I evaluate runs/i3-$n --markdown runs/i3-$n/evaluation.md
  done
done
