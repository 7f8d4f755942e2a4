"""Validation: the Great Expectations suite a spec implies, run per partition, split into valid rows and quarantine.

Imports nothing heavy: each module loads its own libraries when called.
"""
