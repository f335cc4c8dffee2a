"""The API's search worker processes (service.search_processes): answers equal to a search in this process,
a worker that dies replaced and its search told, a home whose index cannot be opened refused in one line,
and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from apiserver import make_home

from podsearch.core.config import load_settings
from podsearch.core.errors import PodsearchError
from podsearch.service.home import Home
from podsearch.service.models import Models
from podsearch.service.queries import search_json, search_options
from podsearch.service.search_processes import SearchProcesses

T = TypeVar("T")
QUERIES = ["stopping clopidogrel before an operation", "calming a shouting relative", "warfarin and bleeding",
           "blood thinners before surgery", "an angry visitor", "clopidogrel", "relative shouting",
           "what to say at the front desk", "quantum chromodynamics of gluon plasma"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    return make_home(tmp_path_factory.mktemp("workers"), models)


def with_workers(home: Path, models: Models, work: Callable[[SearchProcesses], Awaitable[T]]) -> T:
    """`work(pool)` on an event loop, with two workers started for `home` and stopped afterwards."""
    async def run() -> T:
        pool = SearchProcesses(load_settings(home), 2, models)
        await pool.start()
        try:
            return await work(pool)
        finally:
            await pool.close()
    return asyncio.run(run())


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def in_this_process(home: Path, queries: list[str], k: int = 3) -> list[list[dict]]:
    settings = load_settings(home)
    with Home(settings).index() as index:
        return [search_json(index, q, search_options(settings, k=k)) for q in queries]


@pytest.mark.slow
def test_answers_equal_a_search_in_this_process_whatever_the_batch(home: Path, models: Models) -> None:
    """Queries waiting together are embedded in one batch: each answer must still be its own query's."""
    options = search_options(load_settings(home), k=3)

    async def all_at_once(pool: SearchProcesses) -> list:  # they wait together and are embedded in batches
        return await asyncio.gather(*(pool.search(q, options) for q in QUERIES * 3))

    alone = in_this_process(home, QUERIES)
    assert with_workers(home, models, all_at_once) == alone * 3
    assert alone[0][0]["guid"] == "pharm-1" and alone[1][0]["guid"] == "desk-2" and alone[-1] == []


@pytest.mark.slow
def test_a_dead_worker_is_replaced_and_its_search_told(home: Path, models: Models) -> None:
    options = search_options(load_settings(home), k=3)

    async def kill_one(pool: SearchProcesses) -> tuple:
        first = pool.pids()
        assert len(first) == 2 and all(alive(p) for p in first)
        for pid in first:  # stopped: each search handed to them waits in its pipe
            os.kill(pid, signal.SIGSTOP)
        # The first search goes to the first worker, the second to the other (the one with fewer searches).
        doomed = asyncio.ensure_future(pool.search("stopping clopidogrel before an operation", options))
        kept = asyncio.ensure_future(pool.search("stopping clopidogrel before an operation", options))
        await asyncio.sleep(1.0)
        assert not doomed.done() and not kept.done()
        os.kill(first[0], signal.SIGKILL)
        os.kill(first[1], signal.SIGCONT)
        outcomes = await asyncio.gather(doomed, kept, return_exceptions=True)
        for _ in range(600):  # the replacement starts and opens the index
            if first[0] not in pool.pids() and len(pool.pids()) == 2:
                break
            await asyncio.sleep(0.2)
        later = await asyncio.gather(*(pool.search(q, options) for q in QUERIES))
        return first, pool.pids(), outcomes, later

    first, now, (doomed, kept), later = with_workers(home, models, kill_one)
    assert isinstance(doomed, PodsearchError)
    assert str(doomed) == "a search process stopped unexpectedly (exit code -9); search again"
    assert kept[0]["guid"] == "pharm-1"
    assert first[1] in now and first[0] not in now and len(now) == 2 and not alive(first[0])
    assert later == in_this_process(home, QUERIES)  # the replacement answers as the others do


@pytest.mark.slow
def test_closing_stops_every_worker(home: Path, models: Models) -> None:
    async def close_early(pool: SearchProcesses) -> list[int]:
        pids = pool.pids()
        assert len(pids) == 2 and all(alive(p) for p in pids)
        await pool.close()
        with pytest.raises(PodsearchError, match="the server is stopping"):
            await pool.search("warfarin", search_options(load_settings(home)))
        return pids

    assert not any(alive(p) for p in with_workers(home, models, close_early))


def test_an_index_the_workers_cannot_open_is_one_clear_error(tmp_path: Path, models: Models) -> None:
    settings = load_settings(tmp_path / "home")
    settings.index_dir.mkdir(parents=True)
    (settings.index_dir / "index.sqlite").write_bytes(b"this is not a database" * 100)
    pool = SearchProcesses(settings, 2, models)
    with pytest.raises(PodsearchError, match="could not open the index") as raised:
        asyncio.run(pool.start(timeout=120))
    assert "\n" not in str(raised.value)
    assert pool.pids() == []
