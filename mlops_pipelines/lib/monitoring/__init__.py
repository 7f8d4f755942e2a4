"""Monitoring: drift statistics, monitoring windows, Evidently reports and the retraining policy.

Imports nothing heavy: each module loads its own libraries when called.
"""
