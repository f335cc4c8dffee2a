"""Saved searches that alert: real feeds from a local server, real ingests (publisher transcripts, no Whisper),
a real webhook receiver, and the Atom feed read by feedparser."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from apiserver import EPISODES, item, vtt
from rss import channel_head, rss
from httpserver import LocalServer
from webhookserver import Receiver

from podsearch.core.config import load_settings
from podsearch.service.watches import Watch, WatchEntry, atom_feed, watch_book

QUERY = "stopping clopidogrel before surgery"
OFF_TOPIC = "quantum chromodynamics of gluon plasma"
# Says what the watch looks for, as the older "Pharmacy hour" does: only this one may be reported.
NEW = {"late-3": ("Before the operation", "Fri, 20 Mar 2026 09:00:00 GMT",
                  ["This is the surgical pre-assessment clinic.",
                   "Clopidogrel and aspirin may need to be stopped a week before surgery, but only when the "
                   "surgeon and the cardiologist agree.",
                   "Bring a list of every medicine you take to the appointment."])}
APP_URL = "https://podsearch.example.org/team"

HEAD = channel_head(description="Test show.")  # the channel as apiserver's feeds have it


def publish(server: LocalServer, episodes: dict) -> str:
    """Serve a feed of `episodes` (each with its VTT transcript) on `server`; its URL."""
    for guid, (_, _, lines) in episodes.items():
        server.route(f"/{guid}.vtt", vtt(lines).encode(), content_type="text/vtt")
        server.route(f"/{guid}.flac", b"", content_type="audio/flac")
    items = "".join(item(server.url(""), guid, title, date) for guid, (title, date, _) in episodes.items())
    server.route("/feed.xml", rss("Care Talk", items, head=HEAD).encode(), content_type="application/rss+xml")
    return server.url("/feed.xml")


def watches_json(run, home: Path) -> dict[str, dict]:  # noqa: ANN001 - conftest's run
    return {w["name"]: w for w in json.loads(run(home, "watch", "list", "--json").output)}


def feed_of(run, home: Path, name: str):  # noqa: ANN001, ANN201 - feedparser's dict
    parsed = feedparser.parse(run(home, "watch", "feed", name).output.encode("utf-8"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def test_a_watch_reports_exactly_the_new_episodes_clips_once(run, tmp_path: Path, http_server: LocalServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSEARCH_APP_URL", APP_URL)
    home = tmp_path / "home"
    url = publish(http_server, EPISODES)
    run(home, "add", url)
    run(home, "ingest")
    with Receiver() as hook:
        run(home, "watch", "add", QUERY, "--name", "clopidogrel", "--webhook", hook.url)
        run(home, "watch", "add", OFF_TOPIC, "--name", "physics", "--min-confidence", "weak", "--webhook", hook.url)
        assert feed_of(run, home, "clopidogrel").entries == []  # the library's episodes predate the watch

        publish(http_server, {**EPISODES, **NEW})
        assert "indexed 1 episode" in run(home, "ingest").output
        with watch_book(load_settings(home)) as book:
            late = next(e.hit["key"] for e in book.entries("clopidogrel"))
            entries = book.entries("clopidogrel")
        assert entries and {e.hit["episode"] for e in entries} == {"Before the operation"}
        assert {e.hit["key"] for e in entries} == {late}

        parsed = feed_of(run, home, "clopidogrel")
        assert [e.id for e in parsed.entries] == [f"urn:podsearch:clip:{late}:{e.hit['start']:g}" for e in entries]
        for got, entry in zip(parsed.entries, entries):
            hit = entry.hit
            assert got.title == f"Care Talk — Before the operation (0:{int(hit['start']):02d})"
            assert "Clopidogrel" in got.summary or "clopidogrel" in got.summary
            links = {link.rel: link.href for link in got.links}
            # The moment in the audio, and the app's episode view at the clip.
            assert links["related"] == f"{http_server.url('/late-3.flac')}#t={int(hit['start'])}"
            app = urlsplit(links["alternate"])
            assert f"{app.scheme}://{app.netloc}{app.path}" == APP_URL + "/episode"
            assert parse_qs(app.query)["episode"] == [late] and float(parse_qs(app.query)["t"][0]) == hit["start"]
            assert got.updated == entry.found_at

        posts = hook.wait_for(len(entries))
        assert len(posts) == len(entries)
        assert all(p["watch"] == "clopidogrel" and p["query"] == QUERY and p["content_type"] == "application/json"
                   for p in posts)
        assert sorted(p["hit"]["start"] for p in posts) == sorted(e.hit["start"] for e in entries)
        assert all(p["hit"]["key"] == late and p["hit"]["audio_url"] == http_server.url("/late-3.flac") for p in posts)
        assert set(posts[0]["hit"]) >= {"show", "episode", "start", "end", "text", "confidence", "key"}

        listed = watches_json(run, home)
        assert listed["clopidogrel"]["entries"] == listed["clopidogrel"]["unread"] == len(entries)
        assert listed["clopidogrel"]["webhook_state"] == "ok"
        assert listed["physics"]["entries"] == 0  # an off-topic watch stays empty

        # A third ingest, a reindex and another ingest add nothing and post nothing.
        assert "indexed 0 episode" in run(home, "ingest").output
        run(home, "reindex")
        run(home, "ingest")
        assert len(hook.wait_for(len(entries) + 1, timeout=1)) == len(entries)
    assert [e.id for e in feed_of(run, home, "clopidogrel").entries] == [e.id for e in parsed.entries]
    assert "marked" in run(home, "watch", "read", "clopidogrel").output
    assert watches_json(run, home)["clopidogrel"]["unread"] == 0
    run(home, "watch", "rm", "physics")
    assert set(watches_json(run, home)) == {"clopidogrel"}


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_and_slow_webhooks_neither_fail_nor_stall_the_ingest_and_are_retried(
        run, tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSEARCH_WEBHOOK_BUDGET", "2")
    home = tmp_path / "home"
    run(home, "add", publish(http_server, EPISODES))
    run(home, "ingest")
    dead_port = _unused_port()
    with Receiver(delay=120) as slow:
        run(home, "watch", "add", QUERY, "--name", "dead", "--webhook", f"http://127.0.0.1:{dead_port}/hook")
        run(home, "watch", "add", QUERY, "--name", "slow", "--webhook", slow.url)
        publish(http_server, {**EPISODES, **NEW})
        started = time.monotonic()
        result = run(home, "ingest")  # exit code 0: a webhook never fails the ingest
        # Far under the slow endpoint's 120 s: the posts had the 2 s budget.
        assert time.monotonic() - started < 30
        assert "indexed 1 episode" in result.output and "retried at the next ingest" in result.output
        listed = watches_json(run, home)
        count = listed["dead"]["entries"]
        assert count and listed["dead"]["undelivered"] == count and listed["slow"]["undelivered"] == count
        assert "connection failed" in listed["dead"]["last_error"]
        assert "too slow" in listed["slow"]["last_error"] or "ran out" in listed["slow"]["last_error"]
        status = run(home, "status").output
        assert "watch dead: webhook" in status and "watch slow: webhook" in status
        assert "undelivered" in run(home, "watch", "list").output

    # Both endpoints answer now: the next ingest (nothing new to index) delivers what was kept.
    with Receiver(port=dead_port) as revived:
        run(home, "ingest")
        posts = revived.wait_for(count)
    assert len(posts) == count and {p["watch"] for p in posts} == {"dead"}
    listed = watches_json(run, home)
    assert listed["dead"]["webhook_state"] == "ok" and listed["dead"]["entries"] == count


def test_watch_commands_refuse_bad_input_with_one_line(run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "watch", "add", "warfarin", "--name", "w")
    for args, expected in [
        (("watch", "add", "warfarin", "--name", "w"), "a watch named 'w' exists already"),
        (("watch", "add", "  ", "--name", "x"), "query is empty"),
        (("watch", "add", "warfarin", "--name", "a/b"), "watch name 'a/b' is not usable"),
        (("watch", "add", "warfarin", "--name", "x", "--webhook", "ftp://example.org/x"), "not an http(s) URL"),
        (("watch", "feed", "nope"), "no watch named 'nope'"),
        (("watch", "rm", "nope"), "no watch named 'nope'"),
    ]:
        result = run(home, *args, ok=False)
        assert result.exit_code != 0 and expected in result.output, result.output
        assert "Traceback" not in result.output
    # Without --allow-private a private webhook is refused, naming the flag.
    from click.testing import CliRunner

    from podsearch.cli import cli

    refused = CliRunner().invoke(cli, ["--home", str(home), "watch", "add", "x", "--name", "x", "--webhook",
                                       "http://127.0.0.1:9/hook"])
    assert refused.exit_code == 1 and "--allow-private" in refused.output


def test_the_atom_feed_of_hostile_feed_text_parses_cleanly(tmp_path: Path) -> None:
    hostile = "Care <script>alert(1)</script> ]]> & \x1b[31m\x07 \x00 \ufffe \x9b Talk"
    hit = {"show": hostile, "episode": "Ep ]]><![CDATA[ \x0c", "guid": "g", "key": "k1", "start": 65.4, "end": 80.0,
           "text": "<b>bold</b> &amp; \x08 said ]]>", "audio_url": "https://example.org/a.mp3?x=1&y=\"2\"",
           "link": None, "published": "2026-03-01"}
    watch = Watch(name="w <&>", query="q \x01", show=None, speaker=None, min_confidence="partial", webhook=None,
                  created_at="2026-03-01T00:00:00+00:00")
    text = atom_feed(load_settings(tmp_path), watch, [WatchEntry(1, "k1:65.4", hit, "2026-03-02T10:00:00+00:00", False)])
    parsed = feedparser.parse(text.encode("utf-8"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    entry, = parsed.entries
    # Markup stays text; every control (C0, C1) and non-character becomes U+FFFD.
    assert entry.title == "Care <script>alert(1)</script> ]]> & \ufffd[31m\ufffd \ufffd \ufffd \ufffd Talk — Ep ]]><![CDATA[ \ufffd (1:05)"
    assert entry.summary == "<b>bold</b> &amp; \ufffd said ]]>"
    assert entry.link == 'https://example.org/a.mp3?x=1&y="2"#t=65'
    assert entry.id == "urn:podsearch:clip:k1:65.4"
    assert "<script>" not in text  # escaped, never markup


def watched_library(home: Path, server: LocalServer, models, **more: str):  # noqa: ANN001, ANN201
    """A library of EPISODES watched for QUERY as "clopidogrel" (and `more` watches, name=query), then NEW
    published and ingested; (settings, the clopidogrel watch's entries)."""
    from podsearch.service.pipeline import add_feed, ingest

    settings = load_settings(home, allow_private=True)
    add_feed(settings, publish(server, EPISODES))
    ingest(settings, models=models)
    with watch_book(settings) as book:
        book.add(QUERY, "clopidogrel")
        for name, query in more.items():
            book.add(query, name)
    publish(server, {**EPISODES, **NEW})
    ingest(settings, models=models)
    with watch_book(settings) as book:
        entries = book.entries("clopidogrel")
    assert entries
    return settings, entries


def test_the_watching_page_shows_the_entries_and_the_search_page_makes_watches(
        open_app, tmp_path: Path, http_server: LocalServer, models) -> None:  # noqa: ANN001 - fixtures
    home = tmp_path / "home"
    settings, entries = watched_library(home, http_server, models, physics=OFF_TOPIC)

    at = open_app(home, page="Watching")
    assert at.header[0].value == "Watching"
    table = at.dataframe[0].value
    assert table.set_index("Watch").loc["clopidogrel", "New"] == len(entries)
    assert table.set_index("Watch").loc["physics", "Entries"] == 0
    at.selectbox(key="watch").set_value("clopidogrel").run()
    cards = [m.value for m in at.markdown if m.value.startswith("**Care Talk**")]
    assert cards == ["**Care Talk** · Before the operation"] * len(entries)
    assert at.query_params["watch"] in ("clopidogrel", ["clopidogrel"])
    at.button(key="watch_read").click().run()
    assert not at.exception
    with watch_book(settings) as book:
        assert book.get("clopidogrel").unread == 0

    found = open_app(home, q=QUERY)
    found.text_input(key="watch_name").set_value("from the app")
    found.button(key="watch_add").click().run()
    assert not found.exception
    assert any("Watching" in s.value for s in found.success)
    with watch_book(settings) as book:
        assert book.get("from the app").query == QUERY and book.get("from the app").entries == 0


def test_filters_confidence_and_sponsor_reads(tmp_path: Path, http_server: LocalServer, models) -> None:  # noqa: ANN001
    from podsearch.index.search import search
    from podsearch.service.home import Home
    from podsearch.service.pipeline import add_feed, ingest
    from podsearch.service.queries import search_options

    settings = load_settings(tmp_path / "home", allow_private=True)
    add_feed(settings, publish(http_server, EPISODES))  # Care Talk
    cues = [("Host", "Hello, and thanks for tuning in."),
            ("Host", "This episode is brought to you by Acme Pharmacy: use the code SURGERY for ten percent off "
                     "clopidogrel refills before your operation, visit acme dot com."),
            ("Host", "Now, back to the show."),
            ("Guest", "Clopidogrel should only be stopped before surgery when the cardiologist agrees to it."),
            ("Host", "And the patient should bring a list of every medicine to the pre-assessment."),
            ("Host", "Thanks for listening, see you next week.")]
    http_server.route("/clinic-1.vtt", ("WEBVTT\n\n" + "\n".join(
        f"00:00:{8 * i:02d}.000 --> 00:00:{8 * i + 8:02d}.000\n<v {who}>{text}\n" for i, (who, text) in enumerate(cues))
    ).encode(), content_type="text/vtt")
    http_server.route("/clinic-1.flac", b"", content_type="audio/flac")
    http_server.route("/clinic.xml", rss("Clinic Talk", head=HEAD).encode(), content_type="application/rss+xml")
    add_feed(settings, http_server.url("/clinic.xml"))
    ingest(settings, models=models)
    with watch_book(settings) as book:
        book.add(QUERY, "care-only", show="Care Talk")
        book.add(QUERY, "clinic-only", show="Clinic Talk", min_confidence="weak")
        book.add(QUERY, "guest", speaker="Guest", min_confidence="weak")
        book.add(QUERY, "nobody", speaker="Ward manager", min_confidence="weak")
        book.add(QUERY, "everything", min_confidence="weak")
        book.add(QUERY, "strong-only", min_confidence="strong")
    http_server.route("/clinic.xml", rss("Clinic Talk", item(
        http_server.url(""), "clinic-1", "Stopping blood thinners", "Sat, 21 Mar 2026 09:00:00 GMT"), head=HEAD).encode(),
        content_type="application/rss+xml")
    ingest(settings, models=models)

    with Home(settings, models).index() as index:
        with_ads = search(index, QUERY, search_options(settings, k=20, shows=("Clinic Talk",), include_ads=True))
    assert any(h.kind == "sponsor" and "Acme" in h.text for h in with_ads)  # the ad matches the query...
    with watch_book(settings) as book:
        watched = {w.name: [e.hit for e in book.entries(w.name)] for w in book.watches()}
    assert all("Acme" not in h["text"] and h["kind"] != "sponsor" for hits in watched.values() for h in hits)  # ...but is no entry
    assert watched["care-only"] == [] and watched["nobody"] == []
    assert watched["clinic-only"] and {h["show"] for h in watched["clinic-only"]} == {"Clinic Talk"}
    assert watched["guest"] and all(h["speaker"] == "Guest" for h in watched["guest"])
    assert {h["start"] for h in watched["everything"]} >= {h["start"] for h in watched["guest"]}
    # The lowest confidence a watch accepts: a strong-only watch of the same query keeps exactly the strong ones.
    assert watched["strong-only"] and {h["confidence"] for h in watched["strong-only"]} == {"strong"}
    assert sorted((h["key"], h["start"]) for h in watched["strong-only"]) == sorted(
        (h["key"], h["start"]) for h in watched["everything"] if h["confidence"] == "strong")


def test_a_webhook_post_goes_through_the_ssrf_guard_and_follows_no_redirect(tmp_path: Path) -> None:
    from podsearch.service.watches import post_webhook

    settings = load_settings(tmp_path)
    with Receiver() as hook:
        refused = post_webhook(settings, hook.url, b'{"a": 1}', 2)
        assert refused and "--allow-private" in refused and hook.posts == []
        assert post_webhook(settings.with_(allow_private=True), hook.url, b'{"a": 1}', 2) is None
        assert hook.wait_for(1) == [{"content_type": "application/json", "a": 1}]
        hook.status = 302
        assert "HTTP 302" in post_webhook(settings.with_(allow_private=True), hook.url, b'{"a": 2}', 2)
