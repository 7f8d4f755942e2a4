"""Training: the window a model learns from and the seeded, time-ordered hyperparameter search.

Imports nothing heavy: each module loads its own libraries when called.
"""
