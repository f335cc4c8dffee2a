"""The MCP server through the SDK's own client: stdio_client spawns the real `podsearch mcp` process."""

from __future__ import annotations

import asyncio
import json
import sys
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
