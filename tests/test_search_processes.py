"""The API's search worker processes (service.search_processes): answers equal to a search in this process,
a worker that dies replaced and its search told, a home whose index cannot be opened refused in one line,
and no process left behind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apiserver import make_home

from podsearch.core.config import load_settings
from podsearch.core.errors import PodsearchError
from podsearch.service.home import Home
from podsearch.service.models import Models
from podsearch.service.queries import search_json, search_options
from podsearch.service.search_processes import SearchProcesses

QUERIES = ["stopping clopidogrel before an operation", "calming a shouting relative", "warfarin and bleeding",
           "blood thinners before surgery", "an angry visitor", "clopidogrel", "relative shouting",
           "what to say at the front desk", "quantum chromodynamics of gluon plasma"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    return make_home(tmp_path_factory.mktemp("workers"), models)


@pytest.fixture()
def workers(home: Path, models: Models) -> Iterator[SearchProcesses]:
    pool = SearchProcesses(load_settings(home), 2, models)
    pool.start()
    try:
        yield pool
    finally:
        pool.close()


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_answers_equal_a_search_in_this_process_whatever_the_batch(workers: SearchProcesses, home: Path) -> None:
    """Queries waiting together are embedded in one batch: each answer must still be its own query's."""
    settings = load_settings(home)
    options = search_options(settings, k=3)
    futures = [workers.submit(q, options) for q in QUERIES * 3]  # all at once: they wait and are batched
    served = [f.result(timeout=120) for f in futures]
    with Home(settings).index() as index:
        alone = [search_json(index, q, options) for q in QUERIES]
    assert served == alone * 3
    assert alone[0][0]["guid"] == "pharm-1" and alone[1][0]["guid"] == "desk-2" and alone[-1] == []


@pytest.mark.slow
def test_a_dead_worker_is_replaced_and_its_search_told(workers: SearchProcesses, home: Path) -> None:
    settings = load_settings(home)
    options = search_options(settings, k=3)
    first = workers.pids()
    assert len(first) == 2 and all(alive(p) for p in first)
    for pid in first:  # stopped: each search handed to them waits in its pipe
        os.kill(pid, signal.SIGSTOP)
    # The first search goes to the first worker, the second to the other (the one with fewer searches).
    doomed, kept = (workers.submit("stopping clopidogrel before an operation", options) for _ in range(2))
    time.sleep(1.0)
    assert not doomed.done() and not kept.done()
    os.kill(first[0], signal.SIGKILL)
    os.kill(first[1], signal.SIGCONT)
    with pytest.raises(PodsearchError) as told:
        doomed.result(timeout=60)
    assert str(told.value) == "a search process stopped unexpectedly (exit code -9); search again"
    assert kept.result(timeout=60)[0]["guid"] == "pharm-1"
    deadline = time.monotonic() + 120
    while first[0] in workers.pids() or len(workers.pids()) < 2:
        assert time.monotonic() < deadline, workers.pids()
        time.sleep(0.2)
    assert not alive(first[0]) and alive(first[1])
    # The replacement answers as the others do.
    later = [workers.submit(q, options) for q in QUERIES]
    with Home(settings).index() as index:
        assert [f.result(timeout=120) for f in later] == [search_json(index, q, options) for q in QUERIES]


@pytest.mark.slow
def test_closing_stops_every_worker(home: Path, models: Models) -> None:
    pool = SearchProcesses(load_settings(home), 2, models)
    pids = pool.start()
    assert len(pids) == 2 and all(alive(p) for p in pids)
    pool.close()
    assert not any(alive(p) for p in pids)
    with pytest.raises(PodsearchError, match="the server is stopping"):
        pool.submit("warfarin", search_options(load_settings(home)))


def test_an_index_the_workers_cannot_open_is_one_clear_error(tmp_path: Path, models: Models) -> None:
    settings = load_settings(tmp_path / "home")
    settings.index_dir.mkdir(parents=True)
    (settings.index_dir / "index.sqlite").write_bytes(b"this is not a database" * 100)
    pool = SearchProcesses(settings, 2, models)
    with pytest.raises(PodsearchError, match="could not open the index") as raised:
        pool.start(timeout=120)
    assert "\n" not in str(raised.value)
    assert pool.pids() == []
