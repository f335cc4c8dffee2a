"""The MCP server (`podsearch mcp`, stdio): lets an AI assistant search the home and cite clips.

Tools: `search` (timestamped clips with show, episode, link and a playable audio URL at the moment)
and `transcript` (one episode's transcript as vtt, srt, json or txt). Read-only: it never changes
the home, and searches on read-only connections beside any running ingest.
"""

from __future__ import annotations

import threading
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.service.home import Home
from podsearch.service.queries import search_json, search_options
from podsearch.service.models import Models
from podsearch.service.readers import IndexReaders
from podsearch.transcripts.formats import write_transcript
from podsearch.transcripts.store import load_transcript

FORMATS = ("txt", "vtt", "srt", "json")


def clock(seconds: float) -> str:
    """H:MM:SS or M:SS, as a citation shows a moment."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def cite(hit: dict[str, Any]) -> dict[str, Any]:
    """A `search --json` hit plus what a citation needs: readable timestamps and the audio at the moment."""
    play = f"{hit['audio_url']}#t={hit['start']:.1f}" if hit.get("audio_url") else None
    return {**hit, "start_time": clock(hit["start"]), "end_time": clock(hit["end"]), "play_url": play}


def build_server(settings: Settings, models: Models | None = None) -> MCPServer:
    """The MCP server for the home in `settings` (the index is opened at the first tool call, with `models`,
    the process's models; None: its own, loaded once)."""
    server = MCPServer("podsearch", version="0.1.0",
                       instructions="Search podcast transcripts. Cite a clip as show, episode, start_time, "
                                    "and give its play_url (the audio from that moment) or link.")
    home = Home(settings, models)
    lock = threading.Lock()
    opened: list[IndexReaders] = []

    def readers() -> IndexReaders:
        with lock:
            if not opened:
                opened.append(IndexReaders(settings, size=2, models=home.models))
            return opened[0]

    @server.tool()
    def search(query: str, k: int = 5, show: list[str] | None = None, source: list[str] | None = None,
               date_from: str | None = None, date_to: str | None = None, person: str | None = None,
               mode: str = "hybrid") -> dict[str, Any]:
        """Find timestamped clips where something was said, most relevant first.

        query: what you want to hear; k: number of clips (1-100); show: only these shows;
        source: whisper or publisher transcripts; date_from/date_to: published on/after, on/before
        (YYYY-MM-DD); person: only where this person takes part or speaks; mode: hybrid, dense or keyword.
        Each hit has show, episode, guid, published, start/end (seconds) and start_time/end_time,
        text, link (the episode page) and play_url (the audio from the clip's start). An empty list
        means nothing relevant was found.
        """
        try:
            options = search_options(settings, k=k, mode=mode, shows=show or (), sources=source or (),
                                     date_from=date_from, date_to=date_to, person=person)
            with readers().reader() as index:
                hits = search_json(index, query, options)
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None
        return {"query": query, "hits": [cite(h) for h in hits]}

    @server.tool()
    def transcript(guid: str, format: str = "txt") -> str:  # noqa: A002 - the tool's parameter name
        """One episode's full transcript by the key (or guid) of a search hit, as txt, vtt, srt or json."""
        if format not in FORMATS:
            raise ToolError(f"format {format!r} is unknown; choose one of: {', '.join(FORMATS)}")
        try:
            path = home.transcript(guid)  # a key, or a guid only one show uses
        except PodsearchError as exc:
            raise ToolError(f"{exc}; take the key from a search hit") from None
        return write_transcript(load_transcript(path), format)

    return server


def run(settings: Settings) -> None:
    """Serve MCP on stdin/stdout until the client closes it."""
    build_server(settings).run("stdio")
