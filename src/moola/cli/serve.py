"""``moola serve``: argument parsing and printing; the server itself is :mod:`moola.serve`.

The CLI calls :func:`add_parser` and, for this command, ``args.func(args)``. Nothing heavy
is imported until the command runs, so ``moola --help`` needs neither torch nor FastAPI.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from moola.errors import ConfigError

#: ``--max-batch``'s default (:data:`moola.serve.app.DEFAULT_MAX_BATCH`, not imported here).
DEFAULT_MAX_BATCH = 256


def add_parser(sub: Any) -> None:
    """Register ``serve`` on the CLI's subparsers."""
    serve = sub.add_parser(
        "serve",
        help="serve a trained run over HTTP (pip install 'moola[serve]')",
        description="Serve a trained run over HTTP: POST /predict and /predict/batch, "
        "GET /model (what is served and the run's verdict per head), /health, /metrics "
        "(Prometheus) and /docs (OpenAPI).",
    )
    serve.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run folder or checkpoint file")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to listen on; 0: any free port (default: %(default)s)",
    )
    serve.add_argument(
        "--weights", choices=["best", "final"], default="best", help="default best (best.pt)"
    )
    serve.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="torch, or onnx: the run exported at startup and run by onnxruntime "
        "(pip install 'moola[export]'); default torch",
    )
    serve.add_argument(
        "--max-batch",
        type=int,
        default=DEFAULT_MAX_BATCH,
        help=f"windows per /predict/batch request at most (default: {DEFAULT_MAX_BATCH})",
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads of the model (torch or onnxruntime); requests are answered one at "
        "a time on one worker thread (default: 1)",
    )
    serve.add_argument("--no-access-log", action="store_true", help="no line per request on stdout")
    serve.set_defaults(func=run)


def require_serve() -> None:
    """A named error when the ``serve`` extra is missing."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"moola serve needs fastapi, uvicorn and prometheus-client ({exc.name} is "
            "missing): pip install 'moola[serve]'"
        ) from None


def run(args: argparse.Namespace) -> int:
    if args.max_batch < 1:
        raise ConfigError(f"--max-batch must be >= 1, got {args.max_batch}")
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    require_serve()
    from moola.serve.app import create_app
    from moola.serve.served import load_served
    from moola.serve.server import bind, serve, url_of

    sock = bind(args.host, args.port)  # before loading: a busy port fails at once
    try:
        served = load_served(
            args.run, weights=args.weights, backend=args.backend, threads=args.threads
        )
        app = create_app(served, max_batch=args.max_batch, threads=args.threads)
    except BaseException:
        sock.close()
        raise
    loaded, url = served.loaded, url_of(sock)
    print(
        f"moola serve: {loaded.weights} weights of {loaded.path} (step {loaded.step}), "
        f"{served.backend.name} backend, {loaded.window}-bar windows, features "
        f"{loaded.feature_set} ({loaded.n_features}); loaded in {served.load_seconds:.1f} s",
        file=sys.stderr,
    )
    print(f"moola serve: verdict: {verdict_line(served.verdict)}", file=sys.stderr)
    print(f"moola serve: listening on {url} (API docs: {url}/docs); Ctrl-C stops", file=sys.stderr)
    serve(app, sock, access_log=not args.no_access_log)
    return 0


def verdict_line(verdict: Any) -> str:
    """Which heads learned, in one line: ``type learned, pointers DID NOT LEARN, ...``."""
    if not verdict.known:
        return f"unknown ({verdict.source})"
    return ", ".join(
        f"{name} {'learned' if head.learned else 'DID NOT LEARN'}"
        for name, head in verdict.heads.items()
    )
