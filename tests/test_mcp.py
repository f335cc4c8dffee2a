"""The MCP server through the SDK's own client: stdio_client spawns the real `podsearch mcp` process."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from apiserver import make_home
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from podsearch.service.models import Models


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    return make_home(tmp_path_factory.mktemp("mcp"), models)


async def _session_calls(home: Path, calls: list[tuple[str, dict]]) -> tuple[list[str], list]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "podsearch.cli", "--home", str(home), "mcp"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        results = [await session.call_tool(name, args, read_timeout_seconds=300) for name, args in calls]
    return tools, results


def text_of(result) -> str:  # noqa: ANN001 - mcp CallToolResult
    return "".join(getattr(block, "text", "") for block in result.content)


@pytest.mark.slow
def test_mcp_search_and_transcript_tools(home: Path) -> None:
    tools, (found, nothing, empty, bad_k, script, vtt, unknown, bad_format) = asyncio.run(_session_calls(home, [
        ("search", {"query": "stopping clopidogrel before an operation", "k": 2}),
        ("search", {"query": "quantum chromodynamics of gluon plasma"}),
        ("search", {"query": "  "}),
        ("search", {"query": "warfarin", "k": 500}),
        ("transcript", {"guid": "pharm-1"}),
        ("transcript", {"guid": "desk-2", "format": "vtt"}),
        ("transcript", {"guid": "nope"}),
        ("transcript", {"guid": "pharm-1", "format": "docx"}),
    ]))
    assert {"search", "transcript"} <= set(tools)

    assert not found.is_error
    hits = (found.structured_content or json.loads(text_of(found)))["hits"]
    top = hits[0]
    assert top["guid"] == "pharm-1" and top["show"] == "Care Talk" and top["episode"] == "Pharmacy hour"
    assert "Clopidogrel" in top["text"] and top["link"] == "https://example.org/pharm-1"
    # A citation: readable times and the audio from the clip's start.
    assert top["start_time"] == f"0:{int(top['start']):02d}" and top["end"] > top["start"]
    assert top["play_url"] == f"{top['audio_url']}#t={top['start']:.1f}"

    assert not nothing.is_error and (nothing.structured_content or json.loads(text_of(nothing)))["hits"] == []
    assert empty.is_error and "query is empty" in text_of(empty)
    assert bad_k.is_error and "k must be between 1 and 100" in text_of(bad_k)

    assert not script.is_error and "Clopidogrel should not be stopped" in text_of(script)
    assert text_of(vtt).startswith("WEBVTT") and "relative is shouting" in text_of(vtt)
    assert unknown.is_error and "the key or guid 'nope'" in text_of(unknown) and "key from a search hit" in text_of(unknown)
    assert bad_format.is_error and "format 'docx' is unknown" in text_of(bad_format)


TOKEN = "correct horse battery staple"


async def _assistant_session(home: Path, env: dict[str, str], steps):  # noqa: ANN001, ANN202 - async callable
    params = StdioServerParameters(command=sys.executable, args=["-m", "podsearch.cli", "--home", str(home), "mcp"],
                                   env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await steps(session)


def payload(result) -> dict:  # noqa: ANN001 - mcp CallToolResult
    assert not result.is_error, text_of(result)
    return result.structured_content or json.loads(text_of(result))


def test_mcp_resources_writes_with_the_admin_token_and_watches(tmp_path: Path, models: Models,
                                                               http_server) -> None:  # noqa: ANN001 - LocalServer
    import feedparser
    from apiserver import LATE, item, vtt
    from rss import channel_head, rss

    home = make_home(tmp_path, models)
    guid, title, date, lines = LATE
    http_server.route(f"/{guid}.vtt", vtt(lines).encode(), content_type="text/vtt")
    http_server.route(f"/{guid}.flac", b"", content_type="audio/flac")
    http_server.route("/late.xml", rss("Clinic Talk", item(http_server.url(""), guid, title, date), head=channel_head(description="Test show."))
                      .encode(), content_type="application/rss+xml")
    watch = {"query": "warfarin and vitamin K in spinach", "name": "anticoagulation"}

    async def read_only(session: ClientSession) -> list:
        return [await session.call_tool("add_watch", {**watch, "admin_token": TOKEN}),
                await session.call_tool("start_ingest", {"admin_token": TOKEN})]

    refused = asyncio.run(_assistant_session(home, {}, read_only))
    assert all(r.is_error and "read-only" in text_of(r) for r in refused)

    async def assistant(session: ClientSession) -> dict:
        out: dict = {"resources": [r.uri for r in (await session.list_resources()).resources],
                     "templates": [t.uri_template for t in (await session.list_resource_templates()).resource_templates]}
        out["episodes"] = json.loads((await session.read_resource("podsearch://episodes")).contents[0].text)
        out["feeds"] = json.loads((await session.read_resource("podsearch://feeds")).contents[0].text)
        out["transcript"] = (await session.read_resource("podsearch://transcripts/pharm-1")).contents[0].text
        out["wrong_token"] = await session.call_tool("add_watch", {**watch, "admin_token": "wrong"})
        out["watch"] = await session.call_tool("add_watch", {**watch, "admin_token": TOKEN})
        out["feed"] = await session.call_tool("add_feed", {"url": http_server.url("/late.xml"), "admin_token": TOKEN})
        out["local_feed"] = await session.call_tool("add_feed", {"url": "/etc/passwd", "admin_token": TOKEN})
        out["started"] = await session.call_tool("start_ingest", {"admin_token": TOKEN})
        deadline = time.monotonic() + 300
        # Until the ingest has ended and the server has reaped it (its exit code is recorded a moment later).
        while (state := payload(status := await session.call_tool("ingest_status", {"admin_token": TOKEN})))[
                "running"] or state["exit_code"] is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
        out["status"] = payload(status)
        out["matches"] = await session.call_tool("watch_matches", {})
        out["atom"] = (await session.read_resource("podsearch://watches/anticoagulation/feed.xml")).contents[0].text
        out["read"] = await session.call_tool("mark_watch_read", {"name": "anticoagulation", "admin_token": TOKEN})
        out["after"] = await session.call_tool("watch_matches", {"name": "anticoagulation"})
        return out

    out = asyncio.run(_assistant_session(home, {"PODSEARCH_ADMIN_TOKEN": TOKEN, "PODSEARCH_ALLOW_PRIVATE": "1"},
                                         assistant))
    assert {"podsearch://episodes", "podsearch://feeds"} <= set(out["resources"])
    assert {"podsearch://transcripts/{key}", "podsearch://watches/{name}/feed.xml"} <= set(out["templates"])
    assert sorted(e["guid"] for e in out["episodes"]["episodes"]) == ["desk-2", "pharm-1"]
    assert [f["title"] for f in out["feeds"]["feeds"]] == ["Care Talk"] and out["feeds"]["feeds"][0]["episodes"] == 2
    assert "Clopidogrel should not be stopped" in out["transcript"]
    assert out["wrong_token"].is_error and "admin secret" in text_of(out["wrong_token"])
    assert payload(out["watch"])["name"] == "anticoagulation"
    assert payload(out["feed"]) == {"title": "Clinic Talk", "url": http_server.url("/late.xml"), "episodes": 1}
    assert out["local_feed"].is_error and "not an http(s) URL" in text_of(out["local_feed"])
    assert payload(out["started"])["running"] is True and out["status"]["exit_code"] == 0, out["status"]
    (found,) = payload(out["matches"])["watches"]
    assert found["unread"] == len(found["matches"]) > 0
    assert all(m["hit"]["episode"] == title and m["hit"]["play_url"].startswith(http_server.url(f"/{guid}.flac#t="))
               for m in found["matches"])
    parsed = feedparser.parse(out["atom"].encode("utf-8"))
    assert parsed.bozo == 0 and [e.id for e in parsed.entries] == [m["id"] for m in found["matches"]]
    assert payload(out["read"])["marked_read"] == len(found["matches"])
    assert payload(out["after"])["watches"][0]["matches"] == []
