"""Benchmarks (issue 8). Not collected by pytest: run `python -m tests.benchmarks.run`."""
