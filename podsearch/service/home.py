"""One podsearch home as the top layers see it: its settings, the process's models, and the ways into it.

In the style of datasette's `Datasette` object: the CLI, the API, the MCP server and the app each hold a
`Home` and ask it for the catalog and the index (context managers that close what they open) and for an
episode by what a user typed (`episode`, the one resolver of "a key, or a guid only one episode has").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from podsearch.core.config import Settings, load_settings
from podsearch.core.errors import AmbiguousEpisodeError, PodsearchError, UnknownEpisodeError
from podsearch.service.library import EpisodeRow, Library
from podsearch.service.models import Models

if TYPE_CHECKING:  # the index pulls in FAISS and the sentence model's code: imported when first opened
    from podsearch.index.store import SearchIndex

# What the command line tells a user who named no known episode.
CLI_HINT = "`podsearch status --keys` lists them"


class Home:
    """A home's settings and the models of this process (each loaded once, on first use)."""

    def __init__(self, settings: Settings, models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models()  # None: models of its own

    @classmethod
    def load(cls, home: str | os.PathLike[str] | None = None, models: Models | None = None,
             **overrides: object) -> Home:
        """The home at `home` (or PODSEARCH_HOME, or the current directory), its settings read from the environment."""
        return cls(load_settings(home, **overrides), models)

    def with_(self, **changes: object) -> Home:
        """This home with `changes` to its settings (None values ignored), sharing its models."""
        return Home(self.settings.with_(**changes), self.models)

    @contextmanager
    def catalog(self) -> Iterator[Library]:
        """The catalog database, closed when the block ends."""
        library = Library(self.settings.library_db, self.settings.transcripts_dir)
        try:
            yield library
        finally:
            library.close()

    def open_index(self, index_dir: Path | None = None, *,
                   queries: Callable[[str], None] | None = None) -> SearchIndex:
        """The search index (or one being built in `index_dir`), with the configured model and vector index;
        the caller closes it. Blocks use `index()`; this is for holders that keep it open (the app).

        `queries`: the index only answers searches, so it embeds them with the light query encoder (no
        torch); the function hears the one line said when that encoder is first prepared.
        """
        from podsearch.index.store import SearchIndex
        from podsearch.index.vectors import IndexConfig

        settings, models = self.settings, self.models
        if queries is not None:
            embedder = lambda: models.query_encoder(settings.embed_model, settings.models_dir,  # noqa: E731
                                                    notice=queries)
        else:
            embedder = lambda: models.passage_encoder(settings.embed_model, settings.models_dir)  # noqa: E731
        return SearchIndex(
            index_dir or settings.index_dir,
            embedder=embedder,
            vector_config=IndexConfig(kind=settings.index_kind, approx_threshold=settings.approx_threshold),
            reranker=models.reranker,
        )

    @contextmanager
    def index(self, index_dir: Path | None = None, *,
              queries: Callable[[str], None] | None = None) -> Iterator[SearchIndex]:
        """The search index (see `open_index`), closed when the block ends."""
        index = self.open_index(index_dir, queries=queries)
        try:
            yield index
        finally:
            index.close()

    def episode(self, ident: str, hint: str = CLI_HINT) -> EpisodeRow:
        """The catalog's episode whose key is `ident`, or the one episode whose publisher guid it is.

        Raises AmbiguousEpisodeError listing the candidates' keys when several episodes share the guid,
        UnknownEpisodeError (ending in `hint`: where the user finds keys) when none has it.
        """
        with self.catalog() as library:
            rows = library.find_episodes(ident)
        if len(rows) > 1:
            raise AmbiguousEpisodeError.listing(ident, [(r.episode.key, f"{r.show_title} / {r.episode.title}") for r in rows])
        if not rows:
            raise UnknownEpisodeError(f"no episode has the key or guid {ident!r}; {hint}")
        return rows[0]

    def transcript(self, ident: str) -> Path:
        """The transcript file of the episode `ident` names (see `episode`); also a file this home holds
        without a catalog entry (a home rebuilt from transcripts), found by key or unambiguous guid."""
        from podsearch.transcripts.store import find_transcript, find_transcripts_by_guid, load_transcript

        try:
            row = self.episode(ident)
        except UnknownEpisodeError:
            row = None
        if row is not None:
            path = Path(row.transcript_path) if row.transcript_path else None
            path = path if path is not None and path.is_file() else \
                find_transcript(self.settings.transcripts_dir, row.episode.key)
            if path is None:
                raise PodsearchError(f"{row.show_title} / {row.episode.title} has no transcript yet ({row.status}); "
                                     "run `podsearch ingest` first")
            return path
        path = find_transcript(self.settings.transcripts_dir, ident)
        if path is not None:
            return path
        paths = find_transcripts_by_guid(self.settings.transcripts_dir, ident)
        if len(paths) > 1:
            raise AmbiguousEpisodeError.listing(ident, [((t := load_transcript(p)).id, f"{t.show} / {t.episode}") for p in paths])
        if paths:
            return paths[0]
        raise UnknownEpisodeError(f"no episode or transcript has the key or guid {ident!r}; {CLI_HINT}, "
                                  "`podsearch search --json` shows them as \"key\"")
