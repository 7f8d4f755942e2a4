"""Onboarding: profile a user's data file and draft a project spec that validates (`init`)."""
