#!/bin/sh
# Cost-aware routing with benchmark names (IrtNet preset `small` with --groups) and the llmrouter onboarding
# runs with names; a subset of scripts/tasks_run_all.sh. Tables: see that script.
set -e
cd "$(dirname "$0")/.."
I=.venv/bin/irtnet
for t in llmrouter routerbench; do
  $I train runs/tasks/$t.parquet -o runs/tasks/$t-groups --preset small --groups --epochs 30 --lr 0.003 \
    --threads 1 --quiet --overwrite
  $I evaluate runs/tasks/$t-groups > runs/tasks/$t-groups/evaluate.txt
  $I evaluate-cost runs/tasks/$t-groups > runs/tasks/$t-groups/cost.txt
done
for s in 0 1 2; do
  $I evaluate-onboarding runs/tasks/llmrouter.parquet -o runs/tasks/onboard-llmrouter-s$s.json \
    --preset small --n-test 3 --groups --epochs 30 --lr 0.003 --retrain-epochs 10 --n-random 5 --seed $s
done
