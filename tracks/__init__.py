"""Verification tracks, run as ``python -m tracks`` (to come)."""
