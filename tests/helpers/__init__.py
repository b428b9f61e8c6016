"""Shared test helpers, importable as ``tests.helpers`` (from the repository root, under
pytest or not): configs, tiny models and batches, brute-force gradients, Huber by hand,
OHLC strategies, the per-bar reference features and the balancer harness."""
