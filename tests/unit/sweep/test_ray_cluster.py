"""Ray on a real multi-node cluster (two nodes on this machine, ``ray.cluster_utils``): the
workers get the data from the object store, never from the driver's path, and the runs are
bit-identical to the local pool's. While a task trains, its run folder is locked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from moola.data.signal_free import SignalFreeConfig, generate_signal_free
from moola.rundir.claim import LOCK_NAME, claim_out_dir
from moola.sweep import Grid
from moola.sweep.executors import PoolExecutor
from tests.unit.sweep.test_runs import TINY, read_metrics, results, sweep

pytestmark = pytest.mark.slow  # two Ray nodes start in ~20 s


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    pytest.importorskip("pyarrow")
    from moola.data import save_parquet

    path = tmp_path / "windows.parquet"
    save_parquet(generate_signal_free(SignalFreeConfig(n_bars=1500, seed=4)), path)
    return path


@pytest.fixture
def cluster() -> Any:
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    address_before = os.environ.get("RAY_ADDRESS")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    yield nodes
    if ray.is_initialized():
        ray.shutdown()
    nodes.shutdown()
    # The cluster exports RAY_ADDRESS; left set, a later ray.init() in this process would try
    # to join the cluster that is gone instead of starting a local instance.
    if address_before is None:
        os.environ.pop("RAY_ADDRESS", None)
    else:
        os.environ["RAY_ADDRESS"] = address_before


def test_two_nodes_read_the_data_from_the_object_store_only(
    tmp_path: Path, data_file: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moola.sweep.ray_executor as ray_executor
    from moola.sweep.ray_executor import RayExecutor

    settings = {k: v for k, v in TINY.items() if k != "n_windows"}
    grid = Grid((str(data_file),), ("static", "famo"), (0,), settings)
    pool_summary, _ = sweep(grid, tmp_path / "pool", PoolExecutor(workers=2))
    assert pool_summary.ok, pool_summary.failed

    # The driver loads the file once; then it is gone: a worker that opened it would fail.
    loads: list[str] = []
    real = ray_executor.load_windows_for

    def load_then_remove(config: dict[str, Any]) -> Any:
        windows = real(config)
        loads.append(config["data"])
        data_file.rename(data_file.with_suffix(".gone"))
        return windows

    monkeypatch.setattr(ray_executor, "load_windows_for", load_then_remove)
    summary, outcomes = sweep(grid, tmp_path / "ray", RayExecutor(address=cluster.address))
    assert summary.ok, summary.failed
    assert loads == [str(data_file)]  # once, for both runs
    assert not data_file.exists()
    assert sorted(o.name for o in outcomes) == sorted(
        p.name for p in (tmp_path / "pool").iterdir() if p.is_dir()
    )
    for outcome in outcomes:
        run_dir = tmp_path / "ray" / outcome.name
        assert (run_dir / LOCK_NAME).is_file()  # the driver held it while the task trained
        with claim_out_dir(run_dir, "test"):  # and released it once the files were written
            pass
        remote = read_metrics(run_dir)
        assert remote["config"]["data"] == str(data_file)
        assert results(remote) == results(read_metrics(tmp_path / "pool" / outcome.name))

    # A run whose folder another moola run holds is not started; the other run is.
    data_file.with_suffix(".gone").rename(data_file)
    held = tmp_path / "held" / outcomes[0].name
    with claim_out_dir(held, "moola train (the test)"):
        summary, _ = sweep(grid, tmp_path / "held", RayExecutor(address=cluster.address))
    assert list(summary.failed) == [outcomes[0].name] and summary.finished == [outcomes[1].name]
    assert "in use by another moola run" in summary.failed[outcomes[0].name]["message"]


def test_without_an_address_the_executor_starts_its_own_instance(cluster: Any) -> None:
    """With a cluster running on this machine (another sweep's, another test's), a sweep
    without --address starts a local instance with its --workers CPUs; ray.init() alone would
    join the running cluster and then refuse the CPU count."""
    import ray

    from moola.sweep.ray_executor import RayExecutor

    os.environ.pop("RAY_ADDRESS", None)
    with RayExecutor(workers=3):
        assert ray.cluster_resources().get("CPU") == 3  # not the cluster's 1 + 1
        assert ray.get_runtime_context().gcs_address != cluster.address
