"""Benchmarks (run as scripts: python bench/NAME.py); a package so tests can import their models."""
