"""Metrics computed the literature's way (see docs/metrics.md) and the evaluation report."""

from perception.evaluation.evaluator import EvalConfig, Evaluator

__all__ = ["EvalConfig", "Evaluator"]
