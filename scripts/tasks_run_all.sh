#!/bin/sh
# The commands behind the figures of issue 5 (downstream tasks), with the settings used then: IrtNet preset
# `small` (then the task commands' default; today's default preset is `default`, so it is named here),
# 30 epochs, lr 3e-3. Tables missing from runs/tasks/ are imported first. Run from anywhere:
#   sh scripts/tasks_run_all.sh
set -e
cd "$(dirname "$0")/.."
I=.venv/bin/irtnet
D=../shared/data
T=runs/tasks
mkdir -p $T
[ -f $T/zeroeval.parquet ] || $I data import zeroeval $D/zeroeval -o $T/zeroeval.parquet
[ -f $T/routerdc7.parquet ] || $I data import routerdc $D/routerdc/datasets/split2_model7 -o $T/routerdc7.parquet
[ -f $T/llmrouter.parquet ] || $I data import llmrouter $D/llmrouter-dcrouter -o $T/llmrouter.parquet
[ -f $T/routerbench.parquet ] || $I data import routerbench $D/routerdc/datasets/routerbench_zs -o $T/routerbench.parquet
# 1. benchmark accuracy prediction, leave one benchmark out
$I evaluate-benchmarks $T/zeroeval.parquet -o $T/bench-zeroeval.json --preset small --epochs 30 --lr 0.003
$I evaluate-benchmarks $T/llmrouter.parquet -o $T/bench-llmrouter.json --preset small --epochs 30 --lr 0.003 \
  --baselines model-mean,knn,linear-mirt,embedllm-mf
$I evaluate-benchmarks $T/routerdc7.parquet -o $T/bench-routerdc7.json --preset small --epochs 15 --lr 0.003 \
  --baselines model-mean,knn,linear-mirt,embedllm-mf
# 2. onboarding a new model from few answers
sh scripts/tasks_onboarding.sh
# 3. cost-aware routing on a query split (80/10/10, seed 0), IrtNet with benchmark names
for t in llmrouter routerbench; do
  $I train $T/$t.parquet -o $T/$t-groups --preset small --groups --epochs 30 --lr 0.003 --threads 1 --quiet \
    --overwrite
  $I evaluate $T/$t-groups
  $I evaluate-cost $T/$t-groups
done
# 4. report
$I report $T/llmrouter-groups --include $T/bench-llmrouter.json --include $T/onboard-llmrouter-s0.json \
  -o $T/report-llmrouter.html
