"""``python -m moola``: the same entry point as the ``moola`` console script."""

from moola.cli import main

raise SystemExit(main())
