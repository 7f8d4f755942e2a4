"""Reproduction: rebuild a registered version from its recorded lineage and compare it exactly.

Imports nothing heavy: each module loads its own libraries when called.
"""
