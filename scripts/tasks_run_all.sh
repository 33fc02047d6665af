#!/bin/sh
# The commands behind the figures of issue 5 (downstream tasks). Tables from `irtnet.data.importers`:
#   zeroeval <- zeroeval, routerdc7 <- routerdc/datasets/split2_model7, llmrouter <- llmrouter-dcrouter,
#   routerbench <- routerdc/datasets/routerbench_zs  (ResponseTable.to_parquet into runs/tasks/<name>.parquet)
set -e
I=.venv/bin/irtnet
# 1. benchmark accuracy prediction, leave one benchmark out (IrtNet preset small, 30 epochs, lr 3e-3)
$I evaluate-benchmarks runs/tasks/zeroeval.parquet -o runs/tasks/bench-zeroeval.json --epochs 30 --lr 0.003
$I evaluate-benchmarks runs/tasks/llmrouter.parquet -o runs/tasks/bench-llmrouter.json --epochs 30 --lr 0.003 \
  --baselines model-mean,knn,linear-mirt,embedllm-mf
$I evaluate-benchmarks runs/tasks/routerdc7.parquet -o runs/tasks/bench-routerdc7.json --epochs 15 --lr 0.003 \
  --baselines model-mean,knn,linear-mirt,embedllm-mf
# 2. onboarding (see run_onboarding.sh)
sh runs/tasks/run_onboarding.sh
# 3. cost-aware routing on a query split (80/10/10), IrtNet with benchmark names
for t in llmrouter routerbench; do
  $I train runs/tasks/$t.parquet -o runs/tasks/$t-groups --preset small --groups --epochs 30 --lr 0.003 --threads 1 --quiet
  $I evaluate runs/tasks/$t-groups
  $I evaluate-cost runs/tasks/$t-groups
done
# 5. report
$I report runs/tasks/llmrouter-groups --include runs/tasks/bench-llmrouter.json \
  --include runs/tasks/onboard-llmrouter-s0.json -o runs/tasks/report-llmrouter.html
