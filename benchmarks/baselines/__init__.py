"""Baselines the benchmarks compare our services with, each run as its own process."""
