"""The JSON API through a real `podsearch serve` on 127.0.0.1, driven with httpx.

One server serves the module (it loads the sentence model once); tests run in file order, and the
admin tests at the end set the admin password, which the server reads per request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from apiserver import EPISODES, LATE, item, make_home, running_server, vtt
from click.testing import Result
from httpserver import LocalServer
from rss import channel_head, rss

from podsearch.core.config import load_settings
from podsearch.service.ingest_process import IngestProcess
from podsearch.service.models import Models

TOKEN = "correct horse battery staple"
# The module's server runs two search processes (`serve --workers 2`, the default on two cores): every test then checks
# that whichever process answers gives the same.
WORKERS = 2


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    return make_home(tmp_path_factory.mktemp("api"), models)


@pytest.fixture(scope="module")
def api(home: Path) -> Iterator[httpx.Client]:
    with (running_server(home, "--allow-private", env={"PODSEARCH_SERVE_WORKERS": str(WORKERS)}) as base,
          httpx.Client(base_url=base, timeout=120) as client):
        yield client


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and body["error"], body
    return body["error"]


@pytest.mark.slow
def test_the_server_runs_the_processes_it_is_asked_for(api: httpx.Client, home: Path) -> None:
    (log,) = home.parent.glob("serve-*.log")
    assert f"{WORKERS} search processes" in log.read_text()
    port = int(str(api.base_url).rsplit(":", 1)[1].strip("/"))
    (server,) = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _serves(p, port))
    workers = [pid for pid in _children(server) if b"multiprocessing.spawn" in _cmdline(pid)
               and b"resource_tracker" not in _cmdline(pid)]
    assert len(workers) == WORKERS, [_cmdline(pid) for pid in _children(server)]


def _cmdline(pid: int | str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _serves(proc: Path, port: int) -> bool:
    return f"serve\0--port\0{port}\0".encode() in _cmdline(proc.name)


def _children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]


@pytest.mark.slow
def test_health_reports_the_index(api: httpx.Client) -> None:
    body = api.get("/api/health").json()
    assert body["status"] == "ok" and body["passages"] >= 2 and body["read_only"] is True


@pytest.mark.slow
def test_search_answers_with_the_clis_hits(api: httpx.Client, home: Path, run: Callable[..., Result]) -> None:
    body = api.get("/api/search", params={"q": "stopping clopidogrel before an operation", "k": 3}).json()
    assert body["hits"] and body["hits"][0]["guid"] == "pharm-1"
    cli_hits = json.loads(run(home, "search", "stopping clopidogrel before an operation", "-k", "3", "--json").stdout)
    assert body["hits"] == cli_hits  # same keys, same values, same floor


CONCURRENT_QUERIES = ["stopping clopidogrel before an operation", "calming a shouting relative", "warfarin and bleeding",
                      "what to say at the front desk", "blood thinners before surgery", "an angry visitor",
                      "medication questions from patients", "how long before the operation", "clopidogrel",
                      "relative shouting", "nurse at the desk", "operation day advice"]


@pytest.mark.slow
def test_concurrent_searches_give_the_in_process_results(api: httpx.Client, home: Path) -> None:
    """The server's way of working under load (one thread per search, shared caches, many at once)
    changes no hit: each answer equals search() run alone in this process."""
    from concurrent.futures import ThreadPoolExecutor

    from podsearch.service.home import Home
    from podsearch.service.queries import search_json, search_options

    with ThreadPoolExecutor(8) as pool:  # twice over, so the second round meets the caches the first filled
        served = list(pool.map(lambda q: api.get("/api/search", params={"q": q, "k": 4}).json()["hits"],
                               CONCURRENT_QUERIES * 2))
    settings = load_settings(home)
    with Home(settings).index() as index:
        alone = [search_json(index, q, search_options(settings, k=4)) for q in CONCURRENT_QUERIES]
    assert any(alone) and served == alone * 2


@pytest.mark.slow
def test_search_filters(api: httpx.Client) -> None:
    q = {"q": "calming a shouting relative"}
    assert api.get("/api/search", params=q).json()["hits"][0]["guid"] == "desk-2"
    assert api.get("/api/search", params={**q, "from": "2026-03-05"}).json()["hits"][0]["guid"] == "desk-2"
    only_before = api.get("/api/search", params={**q, "to": "2026-03-05"}).json()["hits"]
    assert all(h["guid"] == "pharm-1" for h in only_before)
    assert api.get("/api/search", params={**q, "show": "No Such Show"}).json()["hits"] == []
    assert api.get("/api/search", params={**q, "source": "whisper"}).json()["hits"] == []


@pytest.mark.slow
def test_search_below_the_floor_is_empty(api: httpx.Client) -> None:
    body = api.get("/api/search", params={"q": "quantum chromodynamics of gluon plasma"}).json()
    assert body["hits"] == []


@pytest.mark.slow
@pytest.mark.parametrize(("params", "words"), [
    ({}, "q is empty"),
    ({"q": "   "}, "q is empty"),
    ({"q": "warfarin", "k": "0"}, "k must be between 1 and 100"),
    ({"q": "warfarin", "k": "101"}, "k must be between 1 and 100"),
    ({"q": "warfarin", "k": "many"}, "k:"),
    ({"q": "warfarin", "from": "2026-13-01"}, "from '2026-13-01' is not a date"),
    ({"q": "warfarin", "to": "last week"}, "to 'last week' is not a date"),
    ({"q": "warfarin", "from": "2026-03-10", "to": "2026-03-01"}, "is after to"),
    ({"q": "warfarin", "mode": "fuzzy"}, "mode 'fuzzy' is unknown"),
    ({"q": "warfarin", "source": "radio"}, "source 'radio' is unknown"),
    ({"q": "warfarin", "per_episode": "0"}, "per_episode must be at least 1"),
])
def test_bad_search_input_is_one_clear_400(api: httpx.Client, params: dict, words: str) -> None:
    assert words in error_of(api.get("/api/search", params=params), 400)


@pytest.mark.slow
def test_episodes_and_one_episode(api: httpx.Client) -> None:
    episodes = api.get("/api/episodes").json()["episodes"]
    assert {e["guid"] for e in episodes} == set(EPISODES)
    assert all(e["status"] == "indexed" and e["show"] == "Care Talk" for e in episodes)
    one = api.get("/api/episodes/desk-2").json()
    assert one["title"] == "Front desk" and one["transcript"] is True and one["published"].startswith("2026-03-10")
    assert "no episode has the key or guid 'nope'; GET /api/episodes lists them" in error_of(api.get("/api/episodes/nope"), 404)


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "media", "needle"), [
    ("vtt", "text/vtt", "WEBVTT"), ("srt", "application/x-subrip", "00:00:08,000 -->"),
    ("json", "application/json", '"segments"'), ("txt", "text/plain", "Clopidogrel should not be stopped"),
])
def test_transcript_formats(api: httpx.Client, fmt: str, media: str, needle: str) -> None:
    r = api.get("/api/episodes/pharm-1/transcript", params={"format": fmt})
    assert r.status_code == 200 and r.headers["content-type"].startswith(media) and needle in r.text


@pytest.mark.slow
def test_transcript_bad_input(api: httpx.Client) -> None:
    assert "format 'docx' is unknown" in error_of(
        api.get("/api/episodes/pharm-1/transcript", params={"format": "docx"}), 400)
    assert "no episode has the key or guid 'nope'; GET /api/episodes lists them" in error_of(api.get("/api/episodes/nope/transcript"), 404)


@pytest.mark.slow
def test_openapi_without_html_docs(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    assert {"/api/search", "/api/episodes", "/api/episodes/{episode_id}", "/api/episodes/{episode_id}/transcript",
            "/api/health", "/api/feeds", "/api/ingest"} <= set(spec["paths"])
    # Swagger UI and ReDoc would fetch their scripts from a CDN: not served.
    assert error_of(api.get("/docs"), 404) and error_of(api.get("/redoc"), 404)
    assert "no such endpoint" in error_of(api.get("/api/nothing"), 404)


@pytest.mark.slow
def test_writes_refused_without_an_admin_secret(api: httpx.Client) -> None:
    assert "read-only" in error_of(api.post("/api/feeds", json={"url": "https://example.org/feed.xml"}), 403)
    assert "read-only" in error_of(api.post("/api/ingest", headers={"Authorization": f"Bearer {TOKEN}"}), 403)


def test_watches_are_read_openly_and_written_with_the_admin_secret(api: httpx.Client, home: Path,
                                                                   run: Callable[..., Result]) -> None:
    watch = {"query": "warfarin and vitamin K in spinach", "name": "anticoagulation"}
    assert "read-only" in error_of(api.post("/api/watches", json=watch), 403)
    result = run(home, "admin", "set-password", "--password", TOKEN)
    assert result.exit_code == 0, result.output
    assert "admin secret" in error_of(api.post("/api/watches", json=watch), 401)
    assert "admin secret" in error_of(api.delete("/api/watches/anticoagulation"), 401)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert "min-confidence 'sure'" in error_of(api.post("/api/watches", json={**watch, "min_confidence": "sure"},
                                                        headers=auth), 400)
    made = api.post("/api/watches", json=watch, headers=auth)
    assert made.status_code == 201 and made.json()["name"] == "anticoagulation", made.text
    assert "exists already" in error_of(api.post("/api/watches", json=watch, headers=auth), 422)
    listed = api.get("/api/watches").json()["watches"]
    assert [(w["name"], w["query"], w["entries"], w["webhook"]) for w in listed] == [
        ("anticoagulation", watch["query"], 0, False)]
    feed = api.get("/api/watches/anticoagulation/feed.xml")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    assert "no watch named 'nope'" in error_of(api.get("/api/watches/nope/feed.xml"), 404)


@pytest.mark.slow
def test_admin_adds_a_feed_and_ingests_while_readers_search(api: httpx.Client, home: Path, http_server: LocalServer,
                                                           run: Callable[..., Result]) -> None:
    result = run(home, "admin", "set-password", "--password", TOKEN)
    assert result.exit_code == 0, result.output
    assert not (home / "data" / "admin-password.argon2").read_text().count(TOKEN)  # only the hash is stored
    feed = {"url": http_server.url("/late.xml")}
    assert "admin secret" in error_of(api.post("/api/feeds", json=feed), 401)
    assert "admin secret" in error_of(api.post("/api/feeds", json=feed, headers={"Authorization": "Bearer wrong"}), 401)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert "not an http(s) URL" in error_of(api.post("/api/feeds", json={"url": "/etc/passwd"}, headers=auth), 400)
    assert "limit:" in error_of(api.post("/api/feeds", json={**feed, "limit": 0}, headers=auth), 400)
    assert "since '3 May' is not a date" in error_of(api.post("/api/feeds", json={**feed, "since": "3 May"}, headers=auth), 400)
    assert "404" in error_of(api.post("/api/feeds", json={"url": http_server.url("/missing.xml")}, headers=auth), 422)

    guid, title, date, lines = LATE
    http_server.route(f"/{guid}.vtt", vtt(lines).encode(), content_type="text/vtt")
    http_server.route(f"/{guid}.flac", b"", content_type="audio/flac")
    http_server.route("/late.xml", rss("Clinic Talk", item(http_server.url(""), guid, title, date),
                                       head=channel_head(description="Test show.")).encode(),
                      content_type="application/rss+xml")
    added = api.post("/api/feeds", json=feed, headers=auth)
    assert added.status_code == 201 and added.json() == {"title": "Clinic Talk", "url": feed["url"], "episodes": 1}
    query = {"q": "warfarin and vitamin K in spinach"}
    assert all(h["guid"] != guid for h in api.get("/api/search", params=query).json()["hits"])

    # Readers keep searching while the ingest process writes the same home.
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def reader() -> None:
        with httpx.Client(base_url=str(api.base_url), timeout=120) as own:
            while not stop.is_set():
                r = own.get("/api/search", params={"q": "clopidogrel before surgery", "k": 2})
                if r.status_code != 200 or r.json()["hits"][0]["guid"] != "pharm-1":
                    failures.append(r.text)
                answered[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        started = api.post("/api/ingest", headers=auth)
        assert started.status_code == 202 and started.json()["running"] is True
        assert "already running" in error_of(api.post("/api/ingest", headers=auth), 409)
        deadline = time.monotonic() + 300
        while (status := api.get("/api/ingest", headers=auth).json())["running"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert status["exit_code"] == 0, status["output"]
    assert failures == [] and answered[0] > 0
    # The server picks up the new episode without a restart.
    hits = api.get("/api/search", params=query).json()["hits"]
    assert hits and hits[0]["guid"] == guid and hits[0]["show"] == "Clinic Talk"
    assert api.get(f"/api/episodes/{guid}").json()["status"] == "indexed"


@pytest.mark.slow  # it reads what the admin's ingest above (slow) found for the watch made before it
def test_the_watch_made_over_the_api_reports_the_ingests_new_episode(api: httpx.Client) -> None:
    import feedparser

    guid = LATE[0]
    parsed = feedparser.parse(api.get("/api/watches/anticoagulation/feed.xml").content)
    assert parsed.bozo == 0 and parsed.entries, parsed
    assert all(e.title.startswith(f"Clinic Talk — {LATE[1]} (") and f"/{guid}.flac#t=" in e.link for e in parsed.entries)
    assert api.get("/api/watches").json()["watches"][0]["entries"] == len(parsed.entries)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert api.delete("/api/watches/anticoagulation", headers=auth).json() == {"removed": "anticoagulation"}
    assert api.get("/api/watches").json()["watches"] == []
    assert "no watch named" in error_of(api.delete("/api/watches/anticoagulation", headers=auth), 404)


@pytest.mark.slow
def test_every_server_process_sees_the_one_ingest_another_started(tmp_path: Path) -> None:
    """`serve --workers N`: whichever process answers reports (and refuses to duplicate) the running ingest."""
    settings = load_settings(tmp_path / "home")
    first, second = IngestProcess(settings), IngestProcess(settings)  # as two workers of one server hold them
    assert second.status().running is False and second.status().pid is None
    assert first.start()
    seen = second.status()
    assert seen.running and seen.pid == first.status().pid
    assert not second.start() and not first.start()  # one at a time, whoever asks
    done = first.wait(120)
    assert done.running is False and done.exit_code == 0, done.output
    later = second.status()
    assert (later.running, later.pid, later.exit_code) == (False, done.pid, 0)
    assert later.output == done.output and any("nothing" in line.lower() or "0 episode" in line.lower()
                                               for line in later.output), later.output
    assert second.start()  # the last one finished: another may start
    assert second.wait(120).exit_code == 0
