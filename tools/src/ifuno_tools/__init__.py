"""Development tooling: local servers, the demo season, the benchmark, test support.

Never installed in a production image: services depend on `ifuno-shared` only.
"""
