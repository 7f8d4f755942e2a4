"""Backtest: replay a project's history offline (no Dagster runs) and compare retraining strategies.

Imports nothing heavy: each module loads its own libraries when called.
"""
