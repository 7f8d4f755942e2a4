"""Evaluation: holdout metrics, slices, fairness, importance, plots and the model card.

Imports nothing heavy: each module loads its own libraries when called.
"""
