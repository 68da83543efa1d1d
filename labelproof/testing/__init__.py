"""Fault injection for tests and benchmarks of the services (never used at run time)."""
