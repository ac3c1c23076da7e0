"""Helpers for the test suite and the benchmarks (real servers on loopback); not used at run time."""
