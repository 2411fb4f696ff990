"""Throughput and latency of the pipeline, against a raw baseline on the same machine."""
