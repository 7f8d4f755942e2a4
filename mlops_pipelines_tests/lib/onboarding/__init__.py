"""Tests of lib/onboarding (what `init` decides from a data file alone)."""
