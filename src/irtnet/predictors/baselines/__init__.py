"""Baselines, each behind the same Predictor/Router interface and scored by the same evaluator."""
