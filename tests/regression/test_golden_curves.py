"""Seeded short runs whose per-head loss curves must match the goldens in ``golden/``.

Update on purpose only: ``nox -s golden`` (or ``nox -s tests -- --snapshot-update``), and
explain each moved golden in the commit message.

Tolerances (rtol=RTOL, atol=ATOL) were measured with ``measure_tolerance.py``:
reruns on the same machine are bit-identical (difference 0); the measured worst relative
differences across thread counts and ATen CPU kernels are listed in the README's
"Regression suite" section. The tolerance is set well above those, and far below the
changes a real regression makes (a different balancer or a broken head moves curves by
tens of percent).
"""

from __future__ import annotations

import pytest
from loss_curve_snapshot import curve_snapshot, tolerant_extension

RTOL = 0.02
ATOL = 1e-6

BALANCERS = ["trunknorm", "uncertainty", "static", "gradnorm", "pcgrad", "famo"]


@pytest.mark.parametrize("balancer", BALANCERS)
def test_loss_curves_match_golden(balancer, short_run, snapshot) -> None:
    result = short_run(balancer)
    assert snapshot(extension_class=tolerant_extension(rtol=RTOL, atol=ATOL)) == curve_snapshot(
        result
    )
