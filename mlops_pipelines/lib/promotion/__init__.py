"""Promotion: the champion/challenger gate and the statistics behind it.

Imports nothing heavy: each module loads its own libraries when called.
"""
