"""Explanations for the reviewer workspace: SHAP values of a loaded model (``explain``; shap is the optional
extra ``loopwise[explain]``), and where an event's values fall in the model's reference (``positions``,
``furthest``), which needs no model. No I/O: callers load the model and the reference."""

from loopwise.explain.reference import Position, furthest, positions
from loopwise.explain.shapley import Explanation, explain

__all__ = ["Explanation", "Position", "explain", "furthest", "positions"]
