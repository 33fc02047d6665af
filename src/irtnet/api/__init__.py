"""The Python API, and the only door the CLI and the service go through: orchestration above the pure task
functions (runs, comparisons, experiment protocols) and below reporting and the command line.

    spec = irtnet.api.RunSpec(data=DataConfig(table="table.parquet"), model=ModelSpec(preset="default", seed=0))
    run = irtnet.api.train_run(spec, "runs/x")        # a run directory, whole or absent
    results = irtnet.api.evaluate_run("runs/x")        # beside the base-rate references
    model = irtnet.api.load("runs/x")                  # a run (verified) or a checkpoint directory
    irtnet.api.rank_models(model, ["What is 2 + 2?"])
"""

from irtnet.api.data import load_table, make_split, prepare, split_datasets
from irtnet.api.estimate import EstimateResult, PoolItem, estimate_model, estimate_rounds, plan
from irtnet.api.estimation import data_efficiency, evaluate_estimation
from irtnet.api.run import (REFERENCE_BASELINES, Run, RunSpec, evaluate_run, is_run_dir, resolve_run, run_spec,
                            run_spec_from, train_run)
from irtnet.api.routing_policies import (CalibrationReport, Decision, Policy, PriceBook, calibrate_texts, check_policy,
                                          has_probabilities, load_price_book, parse_router_model, route_texts,
                                          router_model)
from irtnet.api.texts import (CostDecisions, answer_paths, check_benchmarks, cost_route_texts, flush_caches,
                              known_benchmarks, load,
                              predict_texts, rank_models, resolve_prices, text_queries)
from irtnet.config import DataConfig
from irtnet.predictors.spec import DEFAULT_PRESET, ModelSpec, apply_flags, build_predictor, resolve_spec

__all__ = [
    "DEFAULT_PRESET", "REFERENCE_BASELINES", "CostDecisions", "DataConfig", "ModelSpec", "Run", "RunSpec",
    "answer_paths", "apply_flags", "build_predictor", "check_benchmarks", "cost_route_texts", "evaluate_run", "is_run_dir",
    "known_benchmarks", "load", "load_table", "make_split", "predict_texts", "prepare", "rank_models",
    "resolve_prices", "resolve_run", "resolve_spec", "run_spec", "run_spec_from", "split_datasets", "text_queries", "train_run",
    "CalibrationReport", "Decision", "flush_caches", "Policy", "PriceBook", "calibrate_texts", "check_policy", "has_probabilities",
    "load_price_book", "parse_router_model", "route_texts", "router_model",
    "EstimateResult", "PoolItem", "estimate_model", "estimate_rounds", "plan",
    "data_efficiency", "evaluate_estimation",
]
