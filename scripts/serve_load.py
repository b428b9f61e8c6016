#!/usr/bin/env python
"""A bounded load test of ``moola serve`` on loopback (BENCHMARKS.md, "Serving").

For each backend (torch, onnx) a real ``moola serve`` runs in a subprocess (so the client
does not share its interpreter), and for each scenario (``/predict`` with one window,
``/predict/batch`` with 32) N requests are sent, C at a time, from C client threads with a
keep-alive connection each, after a warm-up; the request bodies are encoded beforehand and
the answers are not decoded, so the client spends little of the shared CPU. Every answer must
be a 200. Printed, one markdown row per scenario: p50 and p99 latency, requests and windows
per second, and the mean time a request spent in the server's inference worker (from its
``/metrics``: checks, features, model and the JSON answer; the rest of the latency is
queueing behind the other requests, HTTP and JSON parsing).

Usage::

    PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/serve_load.py [RUN] [--requests 2000]
        [--concurrency 8] [--batch 32] [--backends torch,onnx] [--threads 1]

Without RUN it trains a default-size run (the main job's model and 105-bar windows,
30 steps on synthetic data: speed does not depend on how well it learned) in a scratch
folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

WARMUP = 50
JSON = {"content-type": "application/json"}


def random_windows(n: int, window: int, seed: int = 0) -> np.ndarray:
    """(n, window, 4) valid OHLC: a random walk around 100 with wicks."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(0.001 * rng.standard_normal((n, window)), axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    wick = 1.0 + 0.0005 * rng.random((2, n, window))
    high, low = np.maximum(open_, close) * wick[0], np.minimum(open_, close) / wick[1]
    return np.stack([open_, high, low, close], axis=-1)


def train_default_run(out: Path) -> Path:
    import moola

    print(f"serve_load: training a default-size run (30 steps) in {out}", file=sys.stderr)
    moola.train({"steps": 30, "eval_every": 10, "threads": 1, "progress": False}, out_dir=str(out))
    return out


@contextmanager
def server(run: Path, backend: str, threads: int, max_batch: int) -> Iterator[str]:
    """``moola serve`` in a subprocess; yields its URL once it listens."""
    command = [sys.executable, "-m", "moola", "serve", str(run), "--port", "0"]
    command += ["--backend", backend, "--threads", str(threads), "--max-batch", str(max_batch)]
    command += ["--no-access-log"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            match = re.search(r"listening on (http://\S+) ", line)
            if match:
                break
        else:
            raise RuntimeError("moola serve did not start:\n" + "".join(seen))
        # drain the access log, so the server never blocks on a full pipe
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=60)


def load(url: str, path: str, bodies: list[bytes], requests: int, concurrency: int) -> dict:
    """``requests`` POSTs of ``bodies`` (JSON, encoded beforehand so that the client's own
    encoding is not timed; round robin), ``concurrency`` at a time."""
    latencies = np.zeros(requests)
    failures: list[str] = []
    next_index = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                start = time.perf_counter()
                response = http.post(path, content=bodies[i % len(bodies)], headers=JSON)
                latencies[i] = time.perf_counter() - start
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return {
        "p50_ms": 1e3 * float(np.percentile(latencies, 50)),
        "p99_ms": 1e3 * float(np.percentile(latencies, 99)),
        "rps": requests / wall,
        "wall_s": wall,
    }


def worker_seconds(url: str, path: str) -> float:
    """The server's total time in its inference worker for ``path`` so far (``/metrics``)."""
    sample = f'moola_serve_inference_seconds_sum{{endpoint="{path}"}} '
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(sample):
            return float(line[len(sample) :])
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", help="run folder (default: train one)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32, help="windows per batch request")
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--threads", type=int, default=1, help="the server's --threads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else train_default_run(Path(tmp) / "run")
        from moola.inference import load_model

        window = load_model(run).window
        windows = random_windows(64 + args.batch, window)
        singles = [json.dumps({"features": w.tolist()}).encode() for w in windows[:64]]
        batches = [
            json.dumps({"windows": windows[i : i + args.batch].tolist()}).encode()
            for i in range(0, 64, 8)
        ]
        print(
            "| backend | endpoint | windows / request | p50 ms | p99 ms | requests / s "
            "| windows / s | worker ms / request |\n|---|---|---:|---:|---:|---:|---:|---:|"
        )
        for backend in args.backends.split(","):
            with server(run, backend, args.threads, max(args.batch, 1)) as url:
                for path, bodies, n in [
                    ("/predict", singles, 1),
                    ("/predict/batch", batches, args.batch),
                ]:
                    load(url, path, bodies, WARMUP, args.concurrency)
                    before = worker_seconds(url, path)
                    result = load(url, path, bodies, args.requests, args.concurrency)
                    worker_ms = 1e3 * (worker_seconds(url, path) - before) / args.requests
                    print(
                        f"| {backend} | `{path}` | {n} | {result['p50_ms']:.1f} "
                        f"| {result['p99_ms']:.1f} | {result['rps']:,.0f} "
                        f"| {result['rps'] * n:,.0f} | {worker_ms:.1f} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
