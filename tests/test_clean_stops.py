"""`podsearch app` and `podsearch serve` stopped by a signal leave nothing running (a real process each)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from apiserver import free_port
from appserver import wait_healthy


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc (psutil is not a dependency)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by init is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def stop_and_check(proc: subprocess.Popen, signum: int, port: int, log: Path) -> None:
    children = descendants(proc.pid)
    assert children, "the command started no child to stop"
    proc.send_signal(signum)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the command did not exit after {signum!r}:\n{log.read_text(errors='replace')}")
    deadline = time.monotonic() + 10  # the pids must be gone now; only the kernel's bookkeeping may lag
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sorted(pid for pid in children if alive(pid))
    for pid in left:  # never leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"orphans left running: {left}"
    assert port_is_free(port)


def wait_api(port: int, proc: subprocess.Popen, log: Path) -> None:
    """Until the API on `port` answers /api/health; fails with its output if it exits or takes 180 s."""
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.3)


def start(home: Path, log: Path, *args: str) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "podsearch.cli", "--home", str(home), *args],
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_app_stops_streamlit(tmp_path: Path, signum: int) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port, log = free_port(), tmp_path / "app.log"
    proc = start(home, log, "app", "--port", str(port))
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        stop_and_check(proc, signum, port, log)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, log.read_text(errors="replace")


@contextmanager
def two_worker_api(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int, Path]]:
    """`podsearch serve --workers 2` on an empty home, once it answers: (process, port, log); killed after."""
    home = tmp_path / "home"
    home.mkdir()
    port, log = free_port(), tmp_path / "serve.log"
    proc = start(home, log, "serve", "--port", str(port), "--workers", "2", "--no-access-log")
    try:
        wait_api(port, proc, log)
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stopping_the_api_with_two_workers_stops_them(tmp_path: Path) -> None:
    with two_worker_api(tmp_path) as (proc, port, log):
        stop_and_check(proc, signal.SIGTERM, port, log)


def test_a_killed_api_leaves_no_search_process_behind(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the search workers see their pipe close and exit by themselves."""
    with two_worker_api(tmp_path) as (proc, _, _):
        children = descendants(proc.pid)
        assert len(children) >= 2, children  # the two search workers (and multiprocessing's resource tracker)
        proc.kill()
        proc.wait(30)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(pid for pid in children if alive(pid))
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == [], f"orphans left running: {left}"
