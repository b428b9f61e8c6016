"""The paired block-bootstrap interval: reproducible, private RNG, blocks that follow time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.data.signal_free import SignalFreeConfig, generate_signal_free
from moola.train import Trainer
from moola.verdict import verdict
from moola.verdict.interval import BlockBootstrap, bootstrap_indices, paired_interval
from tests.helpers.configs import tiny_config

GOOD_LOSS = dict(initial=1.0, final=0.5, prior=0.8)
GOOD_METRIC = {"accuracy": 0.7, "baseline_accuracy": 0.6}


def test_block_length_covers_the_windows_that_share_bars() -> None:
    assert BlockBootstrap(np.arange(60), overlap_run=7).block == 7
    assert BlockBootstrap(np.arange(60)).block == 4  # ceil(60 ** (1/3))
    assert BlockBootstrap(np.arange(3), overlap_run=7).block == 3  # at most n


def test_resamples_are_runs_of_consecutive_windows_in_time_order() -> None:
    order = np.array([4, 0, 3, 1, 2, 5, 7, 6])  # time order of 8 validation windows
    boot = BlockBootstrap(order, overlap_run=3, n_boot=50)
    idx = bootstrap_indices(boot)
    assert idx.shape == (50, 8)
    rank = np.argsort(order)  # the time position of each validation window
    steps = np.diff(rank[idx], axis=1)
    within_blocks = steps[:, [0, 1, 3, 4, 6]]  # blocks of 3: positions 0-2, 3-5, 6-7
    assert (within_blocks == 1).all()


def test_reruns_are_bit_identical_and_touch_no_global_rng() -> None:
    rng = np.random.default_rng(0)
    head, prior = rng.random(40), rng.random(40) + 0.1
    torch_before, numpy_before = torch.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    first = paired_interval(head, prior, BlockBootstrap(np.arange(40), seed=3))
    again = paired_interval(head, prior, BlockBootstrap(np.arange(40), seed=3))
    assert first == again
    assert torch.equal(torch.get_rng_state(), torch_before)
    assert np.array_equal(np.random.get_state()[1], numpy_before)  # noqa: NPY002
    other = paired_interval(head, prior, BlockBootstrap(np.arange(40), seed=4))
    assert other["paired_low"] != first["paired_low"]


def test_a_clear_gain_has_its_interval_above_zero_and_noise_does_not() -> None:
    rng = np.random.default_rng(1)
    prior = 1.0 + rng.random(60)
    boot = BlockBootstrap(np.arange(60), overlap_run=5)
    clear = paired_interval(0.5 * prior, prior, boot)
    assert 0 < clear["paired_low"] <= clear["paired_diff"] <= clear["paired_high"]
    assert clear["ratio_low"] == pytest.approx(0.5) and clear["ratio_high"] == pytest.approx(0.5)
    noise = paired_interval(prior + rng.normal(0, 0.3, 60), prior, boot)
    assert noise["paired_low"] < 0 < noise["paired_high"]


def test_correlated_windows_widen_the_interval() -> None:
    """Neighbours that share bars err together: blocks must see it, single draws do not."""
    rng = np.random.default_rng(2)
    shared = np.repeat(rng.normal(0, 1, 12), 7)[:80]  # runs of 7 windows with one error
    prior = np.full(80, 2.0)
    head = prior - 0.2 + shared
    wide = paired_interval(head, prior, BlockBootstrap(np.arange(80), overlap_run=7))
    width = wide["paired_high"] - wide["paired_low"]
    # What independent draws would give: 2 * 1.96 standard errors of the mean difference.
    iid_width = 2 * 1.96 * np.std(prior - head) / np.sqrt(80)
    assert width > 1.5 * iid_width


def test_the_verdict_needs_the_lower_bound_above_zero() -> None:
    above = {**GOOD_METRIC, "paired_low": 0.01, "ratio_low": 0.5, "ratio_high": 0.9}
    assert verdict("type", metrics=above, **GOOD_LOSS).learned
    reaching = {**GOOD_METRIC, "paired_low": -0.01, "ratio_low": 0.5, "ratio_high": 1.02}
    result = verdict("type", metrics=reaching, **GOOD_LOSS)
    assert not result.learned
    assert "95% CI [0.50, 1.02]x (reaches 1x) but accuracy 0.700 > prior 0.600" in result.why


def test_metrics_json_carries_the_split_and_the_intervals_bit_identically() -> None:
    windows = generate_signal_free(SignalFreeConfig(n_bars=800, seed=0))
    config = tiny_config(steps=2, batch_size=8)  # on the windows given below
    first = Trainer(config, windows=windows).fit().to_metrics()
    again = Trainer(config, windows=windows).fit().to_metrics()
    assert first["split"]["kind"] == "purged" and first["split"]["n_purged"] > 0
    assert first["split"]["n_train"] + first["split"]["n_val"] + first["split"]["n_purged"] == len(
        windows
    )
    for name, task in first["tasks"].items():
        assert "paired_low" in task["metrics"] and "95% CI" in task["why"], name
    assert first["tasks"] == again["tasks"]


@pytest.mark.parametrize("n_boot", [1, 49, 50, 123])
def test_chunked_resamples_equal_all_at_once(n_boot: int) -> None:
    """The resamples indexed BOOT_CHUNK at a time give the interval that indexing all
    (n_boot, n) positions at once gives, bit for bit (the memory fix changes no number)."""
    rng = np.random.default_rng(11)
    n = 300
    head, prior = rng.random(n).astype(np.float32), rng.random(n)
    boot = BlockBootstrap(rng.permutation(n), overlap_run=4, seed=2, n_boot=n_boot)
    at_once = paired_interval(head, prior, boot, bootstrap_indices(boot))
    assert paired_interval(head, prior, boot) == at_once


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_the_interval_is_the_percentiles_of_the_resampled_mean_differences(level: float) -> None:
    """Worked out apart from the code: resample the windows by the bootstrap's indices, take
    each resample's mean of prior − head and of head / prior, and read the two-sided
    percentiles at (1 − level) / 2; the point is the mean difference over all windows."""
    rng = np.random.default_rng(6)
    n = 50
    head, prior = rng.gamma(2.0, 0.5, n), rng.gamma(2.0, 0.6, n)
    boot = BlockBootstrap(rng.permutation(n), overlap_run=3, seed=1, n_boot=400, level=level)
    idx = bootstrap_indices(boot)
    diffs = prior[idx].mean(axis=1) - head[idx].mean(axis=1)
    ratios = head[idx].mean(axis=1) / prior[idx].mean(axis=1)
    tail = (1 - level) / 2
    got = paired_interval(head, prior, boot)
    assert got["paired_diff"] == pytest.approx(prior.mean() - head.mean(), rel=1e-12)
    assert [got["paired_low"], got["paired_high"]] == pytest.approx(
        np.quantile(diffs, [tail, 1 - tail]).tolist(), rel=1e-12
    )
    assert [got["ratio_low"], got["ratio_high"]] == pytest.approx(
        np.quantile(ratios, [tail, 1 - tail]).tolist(), rel=1e-12
    )
    assert got["bootstrap_block"] == 4.0  # ceil(50 ** (1/3)) = 4 > 3


def test_the_indices_given_are_the_resamples_used() -> None:
    """With every resample the whole set in order, the interval shrinks to its point."""
    rng = np.random.default_rng(7)
    head, prior = rng.random(12), rng.random(12) + 0.5
    whole = np.tile(np.arange(12), (5, 1))
    got = paired_interval(head, prior, BlockBootstrap(np.arange(12), n_boot=5), whole)
    assert (
        got["paired_low"] == pytest.approx(got["paired_diff"]) == pytest.approx(got["paired_high"])
    )
    assert got["ratio_low"] == pytest.approx(head.mean() / prior.mean())


def test_losses_given_in_float32_are_averaged_in_float64() -> None:
    rng = np.random.default_rng(8)
    head, prior = rng.random(64).astype(np.float32), rng.random(64).astype(np.float32)
    boot = BlockBootstrap(np.arange(64), seed=2, n_boot=100)
    wide = paired_interval(head.astype(np.float64), prior.astype(np.float64), boot)
    assert paired_interval(head, prior, boot) == wide


def test_a_prior_of_zero_loss_gives_an_infinite_ratio_without_a_division_warning() -> None:
    """A resample whose prior's mean loss is 0 divides by zero on purpose (ratio inf, or nan
    for 0 / 0): numpy must not warn about that division."""
    import warnings

    boot = BlockBootstrap(np.arange(10), n_boot=20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = paired_interval(np.full(10, 0.5), np.zeros(10), boot)
        nan = paired_interval(np.zeros(10), np.zeros(10), boot)
    assert got["paired_low"] == got["paired_high"] == -0.5 and nan["paired_diff"] == 0.0
    assert not [w for w in caught if "in divide" in str(w.message)], [
        str(w.message) for w in caught
    ]


def test_resamples_are_the_seeded_streams_block_starts_and_reach_every_window() -> None:
    """Each resample draws ceil(n / block) block starts, uniform on 0..n − block, from the
    run's seed and the bootstrap's own stream (what makes an old run's interval reproducible);
    the first and the last window are both drawn."""
    from moola.seeding import numpy_generator
    from moola.verdict.interval import BOOTSTRAP_STREAM

    n, seed = 20, 4
    boot = BlockBootstrap(np.arange(n)[::-1], overlap_run=3, seed=seed, n_boot=500)
    starts = numpy_generator(seed, BOOTSTRAP_STREAM).integers(0, n - 3 + 1, size=(500, 7))
    positions = (starts[:, :, None] + np.arange(3)).reshape(500, -1)[:, :n]
    idx = bootstrap_indices(boot)
    np.testing.assert_array_equal(idx, boot.order[positions])
    assert set(idx.ravel().tolist()) == set(range(n))
