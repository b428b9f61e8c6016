"""``moola sweep``: a grid of training runs on a local process pool or a Ray cluster.

Modules: ``grid`` (parse and expand the grid, name the runs), ``task`` (one run, as shipped to
a worker), ``executors`` / ``ray_executor`` (where runs execute), ``runner`` (skip finished
runs, record outcomes), ``progress`` (the display) and ``league`` (the league table).
"""

from moola.sweep.grid import Grid, RunSpec, parse_balancers, parse_seeds, parse_settings
from moola.sweep.league import build_league, write_league
from moola.sweep.runner import SweepSummary, run_sweep, write_manifest

__all__ = [
    "Grid",
    "RunSpec",
    "SweepSummary",
    "build_league",
    "parse_balancers",
    "parse_seeds",
    "parse_settings",
    "run_sweep",
    "write_league",
    "write_manifest",
]
