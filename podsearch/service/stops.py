"""Run a server child (the Streamlit app) so that stopping podsearch stops it too.

`subprocess.run` leaves its child running when the parent is killed by SIGTERM (systemd, Docker, a
supervisor): the orphan keeps the port and its memory. Here the child gets a process group of its own,
every SIGTERM/SIGINT/SIGHUP this process receives is forwarded to that whole group (grandchildren
included), and this process waits for them before it returns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_child(cmd: Sequence[str], env: Mapping[str, str] | None = None, grace: float = 20.0) -> int:
    """Run `cmd` until it exits or this process is told to stop; returns its exit code (0 after a clean stop).

    A signal is forwarded to the child's group; after `grace` seconds whatever is left is killed.
    """
    proc = subprocess.Popen(list(cmd), env=dict(env) if env is not None else None, start_new_session=True)
    stop: list[float] = []  # when the first stop signal came

    def forward(signum: int, _frame: object) -> None:
        stop.append(time.monotonic())
        _signal_group(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stop and time.monotonic() - stop[0] > grace:
                    _signal_group(proc.pid, signal.SIGKILL)
        # The child is gone; a grandchild it did not stop must not outlive it either.
        _stop_group(proc.pid, grace)
    finally:
        if proc.poll() is None:  # leaving by an exception: take the child along
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stop and code in (0, -signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP) else code


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the process group; False when it has no process left."""
    try:
        os.killpg(pgid, signum)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed user: nothing of ours to stop
        return False


def _stop_group(pgid: int, grace: float) -> None:
    """SIGTERM what is left of the group, then SIGKILL it after `grace` seconds."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _signal_group(pgid, 0):
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)


__all__ = ["run_child"]
