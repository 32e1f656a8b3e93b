"""Helpers for the test suite that are not tests themselves (importable from any app's tests)."""
