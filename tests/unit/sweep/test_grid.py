"""``moola sweep``'s grid: seeds, balancers and ``--set`` parsing, expansion and run names."""

from __future__ import annotations

import pytest

from moola.balancing import BALANCERS
from moola.errors import ConfigError
from moola.sweep.grid import Grid, parse_balancers, parse_seeds, parse_settings, run_name


def test_seeds_accept_ranges_lists_and_mixes() -> None:
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("0,1,2") == (0, 1, 2)
    assert parse_seeds("3, 0-1, 1") == (3, 0, 1)  # order kept, duplicates dropped
    assert parse_seeds("7") == (7,)


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "4-2", "1.5"])
def test_bad_seeds_are_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds(text)


def test_balancers_all_and_names() -> None:
    assert parse_balancers("all") == tuple(BALANCERS)
    assert len(parse_balancers("all")) == 7
    assert parse_balancers("static, trunknorm,static") == ("static", "trunknorm")
    with pytest.raises(ConfigError, match=r"unknown balancer 'magic'.*trunknorm"):
        parse_balancers("static,magic")


def test_set_values_are_parsed_by_the_field_type() -> None:
    settings = parse_settings(
        [
            "lr=1e-3",
            "lr=3e-3",
            "steps=200",
            "grad_clip=none",
            "bf16=true",
            'model={"hidden_size": 32}',
            "countdown_units=bars",
        ]
    )
    assert settings == {
        "lr": (0.001, 0.003),
        "steps": (200,),
        "grad_clip": (None,),
        "bf16": (True,),
        "model": ({"hidden_size": 32},),
        "countdown_units": ("bars",),
    }
    assert isinstance(settings["steps"][0], int) and isinstance(settings["lr"][0], float)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("bogus=1", "unknown TrainConfig field 'bogus'; valid keys: .*batch_size.*lr"),
        ("steps=1.5", r"--set steps='1.5': expected an integer"),
        ("lr=fast", "expected a number"),
        ("steps=none", "expected an integer"),  # steps is not optional
        ("bf16=maybe", "expected true or false"),
        ("model=[1]", "expected a JSON object"),
        ("seed=3", "use --seeds"),
        ("balancer=static", "use --balancers"),
        ("out_dir=x", "use --out"),
        ("lr", "expected KEY=VALUE"),
    ],
)
def test_bad_set_items_are_clear_errors(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings([item])


def test_expand_is_the_full_product_in_a_fixed_order(tmp_path) -> None:
    grid = Grid(
        data=("synthetic",),
        balancers=("static", "famo"),
        seeds=(0, 1),
        settings={"lr": (0.001, 0.003), "steps": (20,)},
    )
    runs = grid.expand(tmp_path)
    assert len(runs) == 2 * 2 * 2
    assert [r.name for r in runs[:3]] == [
        "synthetic__lr-0.001__static__seed0",
        "synthetic__lr-0.001__static__seed1",
        "synthetic__lr-0.001__famo__seed0",
    ]
    assert runs[-1].name == "synthetic__lr-0.003__famo__seed1"
    last = runs[-1].config
    assert (last["lr"], last["steps"], last["seed"], last["balancer"]) == (0.003, 20, 1, "famo")
    assert last["threads"] == 1 and last["progress"] is False  # sweep defaults
    assert last["out_dir"] == str(tmp_path / runs[-1].name)
    assert runs[-1].settings == {"lr": 0.003, "steps": 20}


def test_expand_validates_every_config_up_front(tmp_path) -> None:
    grid = Grid(("synthetic",), ("static",), (0,), {"steps": (0,)})
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        grid.expand(tmp_path)


def test_run_names_are_filesystem_safe_and_distinguish_paths() -> None:
    a = run_name("/data/a/bars.parquet", {}, "static", 0)
    b = run_name("/data/b/bars.parquet", {}, "static", 0)
    assert a.startswith("bars.parquet-") and a.endswith("__static__seed0")
    assert a != b and "/" not in a
    odd = run_name("synthetic", {"model": {"hidden_size": 8}}, "famo", 2)
    assert "/" not in odd and " " not in odd and "{" not in odd
    assert odd == run_name("synthetic", {"model": {"hidden_size": 8}}, "famo", 2)


def test_a_real_series_source_gets_a_readable_folder_name() -> None:
    assert (
        run_name("backtesting:GOOG", {}, "static", 3) == "backtesting-GOOG__static__seed3"
    )  # a name, not a path: nothing to hash


def test_a_market_source_gets_a_readable_folder_name() -> None:
    assert run_name("synthetic:300000:7", {}, "static", 0) == "synthetic-300000-7__static__seed0"
    odd = run_name(" Synthetic:300 ", {}, "static", 0)  # unsafe characters: slugged and hashed
    assert " " not in odd and odd != run_name("synthetic:300", {}, "static", 0)
