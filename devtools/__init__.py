"""Development and test tools, not part of the installed package: a throwaway PostgreSQL server for the tests
and benchmarks (postgres.py)."""
