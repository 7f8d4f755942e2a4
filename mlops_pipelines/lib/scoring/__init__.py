"""Scoring: the prediction log, batch predictions and the compiled runtime the service uses.

Imports nothing heavy: each module loads its own libraries when called.
"""
