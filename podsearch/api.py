"""The JSON API (`podsearch serve`): search, episodes and transcripts over HTTP for a team.

Reads are open; writes (adding a feed, starting an ingest) need the home's admin secret as a bearer
token and are refused on a home without one. The server is a reader of the home: it searches on a
pool of read-only index connections (podsearch.service.readers) and starts an ingest as its own
process, so it keeps answering while the ingest writes, and sees each episode once it is indexed.
Errors are `{"error": "one line"}` with a 4xx/5xx status.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from podsearch.core.config import Settings
from podsearch.core.errors import AmbiguousEpisodeError, PodsearchError, QueryError, UnknownEpisodeError
from podsearch.core.records import to_dict
from podsearch.service import admin
from podsearch.service.homes import empty_reason
from podsearch.service.ingest_process import IngestProcess
from podsearch.service.home import Home
from podsearch.service.queries import MAX_K, MODES, search_json, search_options
from podsearch.service.queries import episode_json as _episode_json
from podsearch.service.models import Models
from podsearch.service.subscriptions import add_feed, is_local_source
from podsearch.service.readers import IndexReaders
from podsearch.service.search_processes import SearchProcesses
from podsearch.service.watches import public_watch, watch_book
from podsearch.transcripts.formats import write_transcript
from podsearch.transcripts.store import find_transcript, load_transcript

FORMATS = {"vtt": "text/vtt", "srt": "application/x-subrip", "json": "application/json", "txt": "text/plain",
           "chapters": "application/json+chapters"}


class ApiError(HTTPException):
    """An HTTP error whose detail is the one line the client sees."""


class FeedRequest(BaseModel):
    """Body of POST /api/feeds."""

    url: str = Field(description="The feed's http(s) URL")
    since: str | None = Field(None, description="Only episodes published on/after YYYY-MM-DD")
    limit: int | None = Field(None, ge=1, description="Only the newest N episodes")


class WatchRequest(BaseModel):
    """Body of POST /api/watches (the CLI's `watch add`)."""

    query: str = Field(description="What to listen for")
    name: str = Field(description="The watch's name (its feed is /api/watches/{name}/feed.xml)")
    show: str | None = Field(None, description="Only this show")
    speaker: str | None = Field(None, description="Only clips where this speaker speaks")
    min_confidence: str = Field("partial", description="strong, partial or weak: the weakest match reported")
    webhook: str | None = Field(None, description="POST each new clip here as JSON")


class IngestRequest(BaseModel):
    """Body of POST /api/ingest."""

    limit: int | None = Field(None, ge=1, description="Process at most N episodes this run")


def _one_line(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
    got = first.get("input")
    suffix = f" (got {got!r})" if isinstance(got, (str, int, float)) else ""
    return f"{where or 'request'}: {first.get('msg', 'invalid value')}{suffix}"


def create_app(settings: Settings, readers: IndexReaders | None = None, models: Models | None = None,
               search_processes: int = 1) -> FastAPI:
    """The API for the home in `settings` (`readers`: an existing pool, else one is opened at startup with
    `models`, the server process's models; None: the pool loads its own, once). `search_processes` > 1:
    searches run on that many worker processes fed by one queue (service.search_processes), else on the
    readers' threads in this process."""
    home = Home(settings, models)
    state: dict[str, Any] = {"ingest": IngestProcess(settings), "processes": None}

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        pool = readers or IndexReaders(settings, models=models)
        if search_processes > 1:
            # The readers first: they bring the schema up to date and hold the WAL open for the workers.
            workers = SearchProcesses(settings, search_processes, models)
            await workers.start()
            state["processes"] = workers
        else:
            pool.warm()
        state["readers"] = pool
        try:
            yield
        finally:
            state["ingest"].stop()  # an ingest this server started does not outlive it
            if state["processes"] is not None:
                await state["processes"].close()
            if readers is None:
                pool.close()

    # No HTML docs: Swagger UI and ReDoc load their scripts from a CDN, and nothing here reaches the internet.
    app = FastAPI(title="podsearch", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Search podcast transcripts; every hit is a timestamped clip. "
                              "Write endpoints need `Authorization: Bearer <admin secret>`.")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; GET /openapi.json lists them"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _one_line(exc)}, status_code=400)

    @app.exception_handler(PodsearchError)
    async def podsearch_error(_: Request, exc: PodsearchError) -> JSONResponse:
        # Bad requests name what to change; an episode nobody has is not found, a guid several have a conflict;
        # anything else is the home's or a feed's problem.
        status = 400 if isinstance(exc, (QueryError, ValueError)) else 404 if isinstance(exc, UnknownEpisodeError) \
            else 409 if isinstance(exc, AmbiguousEpisodeError) else 422
        return JSONResponse({"error": str(exc)}, status_code=status)

    def require_admin(request: Request) -> None:
        if not admin.admin_configured(settings):
            raise ApiError(403, "this server is read-only: set PODSEARCH_ADMIN_TOKEN or run "
                                "`podsearch admin set-password` on its home to allow changes")
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not admin.verify(settings, token.strip()):
            raise ApiError(401, "this needs the admin secret: send `Authorization: Bearer <secret>`",
                           headers={"WWW-Authenticate": "Bearer"})

    Admin = Depends(require_admin)

    @app.get("/api/health", summary="Liveness and what the index holds")
    def health() -> dict[str, Any]:
        with state["readers"].reader() as index:
            return {"status": "ok", "passages": index.passage_count(), "generation": index.generation(),
                    "read_only": not admin.admin_configured(settings)}

    @app.get("/api/search", summary="Timestamped clips for a query (the CLI's `search --json` hits)")
    async def search(
        q: Annotated[str, Query(description="What you want to hear")] = "",
        k: Annotated[int, Query(description=f"Number of clips, 1-{MAX_K}")] = 5,
        mode: Annotated[str, Query(description=f"One of {', '.join(MODES)}")] = "hybrid",
        show: Annotated[list[str], Query(description="Only this show (repeatable)")] = [],  # noqa: B006
        source: Annotated[list[str], Query(description="whisper or publisher (repeatable)")] = [],  # noqa: B006
        date_from: Annotated[str | None, Query(alias="from", description="Published on/after YYYY-MM-DD")] = None,
        date_to: Annotated[str | None, Query(alias="to", description="Published on/before YYYY-MM-DD")] = None,
        person: Annotated[str | None, Query(description="Only where this person takes part or speaks")] = None,
        per_episode: Annotated[int | None, Query(description="At most N clips per episode")] = None,
    ) -> JSONResponse:
        options = search_options(settings, k=k, mode=mode, shows=show, sources=source, date_from=date_from,
                                 date_to=date_to, person=person, per_episode=per_episode)
        if not q.strip():
            raise QueryError("q is empty; pass a few words describing what you want to hear, e.g. ?q=warfarin")
        if state["processes"] is not None:
            hits = await state["processes"].search(q, options)
        else:  # on the pool's own threads (one per reader), not one thread per waiting request
            hits = await asyncio.wrap_future(state["readers"].submit(lambda index: search_json(index, q, options)))
        if not hits:  # an empty home says so, never just "nothing found"
            empty = await asyncio.wrap_future(state["readers"].submit(
                lambda index: empty_reason(settings, index.passage_count())))
            if empty:
                return JSONResponse({"query": q, "hits": hits, "message": empty})
        # Already JSON-ready: returned as a response, FastAPI neither validates it against the annotation
        # nor walks it with jsonable_encoder (a second thread hop and ~1 ms of Python per search under load).
        return JSONResponse({"query": q, "hits": hits})

    @app.get("/api/episodes", summary="Every episode of the home with its status")
    def episodes() -> dict[str, Any]:
        with home.catalog() as library:
            return {"episodes": [_episode_json(r) for r in library.episodes()]}

    def _row(ident: str) -> Any:
        """The episode with key `ident`, or the one episode whose guid it is (404 for none, 409 for several)."""
        return home.episode(ident, hint="GET /api/episodes lists them")

    @app.get("/api/episodes/{episode_id}", summary="One episode (by key, or guid when unambiguous)")
    def episode(episode_id: str) -> dict[str, Any]:
        row = _row(episode_id)
        ep = row.episode
        return {**_episode_json(row), "description": ep.description, "image": ep.image, "season": ep.season,
                "number": ep.number, "persons": [to_dict(p) for p in ep.persons],
                "transcript": find_transcript(settings.transcripts_dir, ep.key) is not None}

    @app.get("/api/episodes/{episode_id}/transcript", summary="The episode's transcript as vtt, srt, json or txt",
             response_class=PlainTextResponse)
    def transcript(episode_id: str, format: Annotated[str, Query(description="vtt, srt, json or txt")] = "vtt") -> Response:  # noqa: A002
        if format not in FORMATS:
            raise ApiError(400, f"format {format!r} is unknown; choose one of: {', '.join(FORMATS)}")
        row = _row(episode_id)  # 404 for an unknown episode, 409 for an ambiguous guid
        path = find_transcript(settings.transcripts_dir, row.episode.key)
        if path is None:
            raise ApiError(404, f"episode {episode_id!r} has no transcript yet (status {row.status}); "
                                "an admin can POST /api/ingest")
        return Response(write_transcript(load_transcript(path), format), media_type=FORMATS[format])

    @app.get("/api/topics", summary="The library's topics, each with its best clips first")
    def topics(show: Annotated[str | None, Query(description="only this show's clips (its title)")] = None,
               ) -> dict[str, Any]:
        from podsearch.service.topics import topic_map

        with state["readers"].reader() as index:
            return {"topics": topic_map(index, show)}

    @app.post("/api/feeds", status_code=201, dependencies=[Admin], summary="Subscribe to a feed (admin)")
    def post_feed(body: FeedRequest) -> dict[str, Any]:
        # The server reads only what the network offers: a path would expose the server's files.
        if is_local_source(body.url):
            raise ApiError(400, f"url {body.url!r} is not an http(s) URL; feeds are added by URL over the API")
        since = search_options(settings, date_from=body.since, names={"from": "since"}).filters.date_from
        show, count = add_feed(settings, body.url, since=since, limit=body.limit)
        return {"title": show.title, "url": body.url, "episodes": count}

    @app.post("/api/ingest", status_code=202, dependencies=[Admin],
              summary="Start an ingest in its own process (admin)")
    def post_ingest(body: IngestRequest | None = None) -> dict[str, Any]:
        job: IngestProcess = state["ingest"]
        if not job.start(limit=body.limit if body else None):
            raise ApiError(409, "an ingest is already running; GET /api/ingest follows it")
        return to_dict(job.status())

    @app.get("/api/ingest", dependencies=[Admin], summary="The running or last ingest started here (admin)")
    def get_ingest() -> dict[str, Any]:
        return to_dict(state["ingest"].status())

    @app.get("/api/watches", summary="Saved searches with their entry counts")
    def watches() -> dict[str, Any]:
        with watch_book(settings) as book:
            # A webhook's address may carry a secret: readers see only whether one is set.
            return {"watches": [public_watch(w) for w in book.watches()]}

    @app.get("/api/watches/{name}/feed.xml", summary="A watch's entries as an Atom 1.0 feed",
             response_class=Response)
    def watch_feed(name: str) -> Response:
        with watch_book(settings) as book:
            _known_watch(book, name)
            return Response(book.feed(name), media_type="application/atom+xml")

    @app.post("/api/watches", status_code=201, dependencies=[Admin], summary="Add a watch (admin)")
    def post_watch(body: WatchRequest) -> dict[str, Any]:
        with watch_book(settings) as book:
            watch = book.add(body.query, body.name, show=body.show, speaker=body.speaker,
                             min_confidence=body.min_confidence, webhook=body.webhook)
        return watch.to_json()

    @app.delete("/api/watches/{name}", dependencies=[Admin], summary="Remove a watch and its entries (admin)")
    def delete_watch(name: str) -> dict[str, Any]:
        with watch_book(settings) as book:
            _known_watch(book, name)
            book.remove(name)
        return {"removed": name}

    def _known_watch(book: Any, name: str) -> None:
        if name not in {w.name for w in book.watches()}:
            raise ApiError(404, f"no watch named {name!r}; GET /api/watches lists them")

    app.state.podsearch = state
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, *, root_path: str = "",
          access_log: bool = True, proxy_headers: bool = False, workers: int = 1) -> None:
    """Run the API with uvicorn until interrupted (`workers` > 1: searches on that many worker processes)."""
    import uvicorn

    uvicorn.run(create_app(settings, search_processes=workers), host=host, port=port, root_path=root_path,
                access_log=access_log, proxy_headers=proxy_headers,
                forwarded_allow_ips="127.0.0.1" if proxy_headers else None, log_level="info")
