"""Registry: MLflow sessions, runs, model logging and loading, and the aliases that name each model's role.

Imports nothing heavy: each module loads its own libraries when called.
"""
