"""Nightly regression checks: a board against its own history (issue 12)."""
