"""Functional tests: the Python API against the real Docker Engine and registry."""
