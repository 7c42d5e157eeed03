"""Helpers the test suites share (imported, never through a conftest module)."""
