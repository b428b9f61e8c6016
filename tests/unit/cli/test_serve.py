"""``moola serve``: it listens and answers, stops on Ctrl-C, and every bad argument is one
line and exit status 2 before anything listens."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from moola.cli import main

SRC = Path(__file__).resolve().parents[3] / "src"


def test_the_command_runs_a_server_and_stops_on_ctrl_c(run_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "moola", "serve", str(run_dir), "--port", "0"]
    command += ["--weights", "final", "--max-batch", "4", "--no-access-log"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        lines = []
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "listening on" in line:
                break
        match = re.search(r"listening on (http://\S+) ", "".join(lines))
        assert match, "".join(lines)
        assert "final weights" in lines[0] and "torch backend" in lines[0]
        assert lines[1].startswith("moola serve: verdict: type ")
        url = match.group(1)
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        info = httpx.get(f"{url}/model").json()
        assert (info["weights"], info["max_batch"]) == ("final", 4)
        process.send_signal(signal.SIGINT)
        # uvicorn shuts down gracefully, then re-raises the signal: moola's usual Ctrl-C exit
        assert process.wait(timeout=30) == 130
        rest = process.stderr.read()
        assert "Finished server process" in rest and rest.endswith("interrupted\n"), rest
        assert process.stdout is not None and process.stdout.read() == ""  # no access log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_building_the_cli_imports_neither_fastapi_nor_torch() -> None:
    code = (
        "import argparse, sys\n"
        "from moola.cli.serve import add_parser\n"
        "add_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted({'fastapi', 'uvicorn', 'prometheus_client', 'torch'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_missing_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "nothing"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moola serve: error: no run or checkpoint at") and err.count("\n") == 1


def test_a_busy_port_is_named(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", str(run_dir), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another --port" in err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--max-batch", "0"], "--max-batch must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--port", "70000"], "port must be an integer in 0..65535"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    run_dir: Path, flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(run_dir), *flags]) == 2
    assert says in capsys.readouterr().err


def test_without_the_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moola.cli.serve import require_serve
    from moola.errors import ConfigError

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    with pytest.raises(ConfigError, match=r"uvicorn is missing.*pip install 'moola\[serve\]'"):
        require_serve()
