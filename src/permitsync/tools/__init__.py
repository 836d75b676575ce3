"""Operational tools: the benchmark and the demo."""
