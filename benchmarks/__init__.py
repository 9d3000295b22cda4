"""Benchmarks for trio-ws-events (not part of the test suite); see README.md here."""
