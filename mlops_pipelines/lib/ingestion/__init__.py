"""Ingestion: read a project's source (files, URL, simulator) and type it by the spec.

Imports nothing heavy: each module loads its own libraries when called.
"""
