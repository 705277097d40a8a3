"""Benchmarks: synthetic corpora and side-by-side latency/throughput against naive baselines (``jiceng bench``)."""
