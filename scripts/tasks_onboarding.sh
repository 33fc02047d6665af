#!/bin/sh
# Onboarding evaluations behind the reported figures (each run < 4 min on 1 thread), IrtNet preset `small`
# (named: the task commands' default preset is now `default`). Tables: see scripts/tasks_run_all.sh.
set -e
cd "$(dirname "$0")/.."
I=.venv/bin/irtnet
for s in 0 1; do
  $I evaluate-onboarding runs/tasks/zeroeval.parquet -o runs/tasks/onboard-zeroeval-s$s.json \
    --preset small --n-test 10 --epochs 30 --lr 0.003 --retrain-epochs 10 --n-random 5 --seed $s
done
for s in 0 1 2; do
  $I evaluate-onboarding runs/tasks/llmrouter.parquet -o runs/tasks/onboard-llmrouter-s$s.json \
    --preset small --n-test 3 --groups --epochs 30 --lr 0.003 --retrain-epochs 10 --n-random 5 --seed $s
done
