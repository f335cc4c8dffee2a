"""The MCP server (`podsearch mcp`, stdio): lets an AI assistant search the home, cite clips and follow topics.

Read tools: `search` (timestamped clips with show, episode, link and a playable audio URL at the moment),
`transcript` (one episode's transcript as vtt, srt, json, txt or chapters), `topics` (the topic map) and
`watch_matches` (the new clips of saved searches). Resources: `podsearch://episodes`, `podsearch://feeds`,
`podsearch://transcripts/{key}` and `podsearch://watches/{name}/feed.xml`. Write tools (`add_feed`,
`start_ingest`, `ingest_status`, `add_watch`, `mark_watch_read`) need the home's admin secret as `admin_token`, as the API's
writes need it as a bearer token, and are refused on a home without one. Searches run on read-only
connections beside any running ingest, which runs in its own process.
"""

from __future__ import annotations

import threading
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.core.records import to_dict
from podsearch.service import admin
from podsearch.service.home import Home
from podsearch.service.ingest_process import IngestProcess
from podsearch.service.queries import episode_json, search_json, search_options
from podsearch.service.subscriptions import add_feed as subscribe
from podsearch.service.subscriptions import is_local_source
from podsearch.service.watches import watch_book
from podsearch.service.models import Models
from podsearch.service.readers import IndexReaders
from podsearch.transcripts.formats import write_transcript
from podsearch.transcripts.store import load_transcript

FORMATS = ("txt", "vtt", "srt", "json", "chapters")


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
        text, language (what is spoken: "en", "es"…; clips not in English are found by their words, so
        ask in the show's language), link (the episode page) and play_url (the audio from the clip's
        start). An empty list means nothing relevant was found.
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
        """One episode's full transcript by the key (or guid) of a search hit, as txt, vtt, srt or json (chapters
        each with `generated` when podsearch made them), or its chapters alone (Podcasting 2.0 JSON)."""
        if format not in FORMATS:
            raise ToolError(f"format {format!r} is unknown; choose one of: {', '.join(FORMATS)}")
        try:
            path = home.transcript(guid)  # a key, or a guid only one show uses
        except PodsearchError as exc:
            raise ToolError(f"{exc}; take the key from a search hit") from None
        return write_transcript(load_transcript(path), format)

    @server.tool()
    def topics(show: str | None = None) -> dict[str, Any]:
        """The library's topics (label, distinctive terms, episodes) with their best clips first;
        `show`: only that show's clips."""
        from podsearch.service.topics import topic_map

        with readers().reader() as index:
            return {"topics": topic_map(index, show)}

    # -- resources --------------------------------------------------------------------------
    @server.resource("podsearch://episodes", mime_type="application/json",
                     description="Every episode of the home: key, show, title, date, status, audio URL")
    def episodes() -> dict[str, Any]:
        with home.catalog() as library:
            return {"episodes": [episode_json(r) for r in library.episodes()]}

    @server.resource("podsearch://feeds", mime_type="application/json",
                     description="The podcast feeds the home follows, with their refresh state")
    def feeds() -> dict[str, Any]:
        with home.catalog() as library:
            return {"feeds": [{"url": f.url, "title": f.title, "status": f.status, "error": f.error,
                               "refreshed_at": f.refreshed_at, "episodes": len(library.episodes(feed_id=f.id))}
                              for f in library.feeds()]}

    @server.resource("podsearch://transcripts/{key}", mime_type="text/plain",
                     description="One episode's transcript (by its key, or a guid only one show uses)")
    def transcript_resource(key: str) -> str:
        try:
            return write_transcript(load_transcript(home.transcript(key)), "txt")
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None

    @server.resource("podsearch://watches/{name}/feed.xml", mime_type="application/atom+xml",
                     description="A saved search's clips as an Atom 1.0 feed")
    def watch_feed(name: str) -> str:
        try:
            with watch_book(settings) as book:
                return book.feed(name)
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None

    # -- watches ----------------------------------------------------------------------------
    @server.tool()
    def watch_matches(name: str | None = None, include_read: bool = False) -> dict[str, Any]:
        """The clips saved searches (watches) found in newly ingested episodes, newest first.

        name: only this watch (default: all); include_read: also the entries already marked read.
        Each match has the hit as `search` gives it (show, episode, start/end, text, play_url) and found_at.
        """
        try:
            with watch_book(settings) as book:
                chosen = [book.get(name)] if name else book.watches()
                return {"watches": [{"name": w.name, "query": w.query, "unread": w.unread, "entries": w.entries,
                                     "matches": [{**e.to_json(), "hit": cite(e.hit)}
                                                 for e in book.entries(w.name, unread_only=not include_read)]}
                                    for w in chosen]}
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None

    # -- writes (admin) -----------------------------------------------------------------------
    def require_admin(admin_token: str | None) -> None:
        if not admin.admin_configured(settings):
            raise ToolError("this home is read-only: set PODSEARCH_ADMIN_TOKEN or run `podsearch admin "
                            "set-password` on it to allow changes")
        if not admin_token or not admin.verify(settings, admin_token):
            raise ToolError("this needs the admin secret: pass it as admin_token")

    @server.tool()
    def add_watch(query: str, name: str, admin_token: str, show: str | None = None, speaker: str | None = None,
                  min_confidence: str = "partial", webhook: str | None = None) -> dict[str, Any]:
        """Save a search that reports clips of episodes ingested from now on (admin).

        min_confidence: strong, partial (default) or weak; webhook: an http(s) URL that receives each new clip
        as a JSON POST. The matches appear in `watch_matches` after each ingest.
        """
        require_admin(admin_token)
        try:
            with watch_book(settings) as book:
                return book.add(query, name, show=show, speaker=speaker, min_confidence=min_confidence,
                                webhook=webhook).to_json()
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def mark_watch_read(name: str, admin_token: str) -> dict[str, Any]:
        """Mark a watch's matches as read (admin)."""
        require_admin(admin_token)
        try:
            with watch_book(settings) as book:
                return {"name": name, "marked_read": book.mark_read(name)}
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def add_feed(url: str, admin_token: str, since: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """Subscribe to a podcast feed by its http(s) URL (admin); its episodes are ingested by `start_ingest`.

        since: only episodes published on/after YYYY-MM-DD; limit: only the newest N episodes.
        """
        require_admin(admin_token)
        if is_local_source(url):
            raise ToolError(f"url {url!r} is not an http(s) URL; feeds are added by URL")
        try:
            start = search_options(settings, date_from=since, names={"from": "since"}).filters.date_from
            show, count = subscribe(settings, url, since=start, limit=limit)
        except PodsearchError as exc:
            raise ToolError(str(exc)) from None
        return {"title": show.title, "url": url, "episodes": count}

    @server.tool()
    def start_ingest(admin_token: str, limit: int | None = None) -> dict[str, Any]:
        """Start refreshing the feeds and transcribing and indexing new episodes, in the background (admin).

        limit: at most N episodes this run. Follow it with `ingest_status`; watches are checked when it ends.
        """
        require_admin(admin_token)
        job = IngestProcess(settings)
        if not job.start(limit=limit):
            raise ToolError("an ingest is already running; follow it with ingest_status")
        return to_dict(job.status())

    @server.tool()
    def ingest_status(admin_token: str) -> dict[str, Any]:
        """Whether the last ingest started through MCP or the API is running, and its last lines of output (admin)."""
        require_admin(admin_token)
        return to_dict(IngestProcess(settings).status())

    return server


def run(settings: Settings) -> None:
    """Serve MCP on stdin/stdout until the client closes it."""
    build_server(settings).run("stdio")
