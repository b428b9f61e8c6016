"""``moola serve``: a trained run over HTTP (FastAPI, uvicorn, Prometheus metrics).

``pip install 'moola[serve]'``. The command is :mod:`moola.cli.serve`; the app factory
:func:`moola.serve.app.create_app`; the model, loaded once at startup,
:func:`moola.serve.served.load_served`; and the runner :mod:`moola.serve.server`. Nothing
is imported here, so the CLI can list the command without FastAPI installed.
"""
