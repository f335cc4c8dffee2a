"""The Streamlit app as a real server for browser tests: wait until it answers its health check."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from apiserver import free_port


def wait_healthy(base: str, proc: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    """Until /_stcore/health answers ok; fails with the server's output if it exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"the app never became healthy:\n{log.read_text(errors='replace')}")


@contextmanager
def streamlit_app(home: Path, log_path: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app.py` on 127.0.0.1 for `home` (`env`: more environment), its output in `log_path`:
    yields (base URL, process) once healthy, and stops it afterwards."""
    root = Path(__file__).resolve().parents[1]
    port = free_port()
    log = log_path.open("wb")
    env = {**os.environ, "PODSEARCH_HOME": str(home), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(root / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log_path)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
