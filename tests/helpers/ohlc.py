"""Hypothesis strategies for valid OHLC bars, shared by the feature tests.

Both put prices on a 0.1 % grid from a random base, so scaling cannot round two distinct
prices together, and swap open and close at random.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def valid_ohlc(draw, n: int | None = None, k: int | None = None):
    """Valid OHLC on a price grid: distinct prices differ by >= 0.1 %, equal ticks are equal."""
    n = draw(st.integers(1, 3)) if n is None else n
    k = draw(st.integers(2, 40)) if k is None else k
    ticks = np.sort(draw(hnp.arrays(np.int64, (n, k, 4), elements=st.integers(0, 1000))), axis=-1)
    swap = draw(hnp.arrays(np.bool_, (n, k)))
    base = draw(st.floats(0.5, 2000.0))
    prices = base * (1000.0 + ticks) / 1000.0
    low, mid_a, mid_b, high = (prices[..., i] for i in range(4))
    open_ = np.where(swap, mid_b, mid_a)
    close = np.where(swap, mid_a, mid_b)
    return np.stack([open_, high, low, close], axis=-1)


@st.composite
def ohlc_with_ties(draw, n: int | None = None, k: int | None = None):
    """Valid OHLC on a price grid with many ties: flat bars, zero ranges, repeated prices.

    ``levels`` small gives constant prices and flat bars; large gives distinct prices that
    differ by >= 0.1 % (so scaling cannot round two of them together).
    """
    n = draw(st.integers(1, 3)) if n is None else n
    k = draw(st.integers(2, 60)) if k is None else k
    levels = draw(st.sampled_from([1, 2, 4, 50, 1000]))
    walk = draw(st.booleans())
    ticks = np.sort(
        draw(hnp.arrays(np.int64, (n, k, 4), elements=st.integers(0, levels - 1))), axis=-1
    )
    if walk:  # a trending series: bars drift apart, so swings get confirmed
        ticks = ticks + np.cumsum(
            draw(hnp.arrays(np.int64, (n, k, 1), elements=st.integers(-3, 3))), axis=1
        )
        ticks -= ticks.min() - 1
    swap = draw(hnp.arrays(np.bool_, (n, k)))
    base = draw(st.floats(0.5, 2000.0))
    prices = base * (1000.0 + ticks) / 1000.0
    low, mid_a, mid_b, high = (prices[..., i] for i in range(4))
    return np.stack(
        [np.where(swap, mid_b, mid_a), high, low, np.where(swap, mid_a, mid_b)], axis=-1
    )
