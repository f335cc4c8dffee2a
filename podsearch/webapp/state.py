"""What every page shares: the home (settings and models), the opened index (one per server process) and the ingest jobs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import streamlit as st

from podsearch.core.config import Settings, load_settings
from podsearch.core.records import Hit, Word
from podsearch.index.search import SearchOptions, search
from podsearch.service.jobs import IngestJobs, shared_jobs
from podsearch.service.library import Library
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.words import clip_words as read_clip_words


def settings() -> Settings:
    """This run's settings (cheap to read, and not cached: the home comes from the environment of this run)."""
    return load_settings()


@st.cache_resource
def models() -> Models:
    """The models of this server process, shared by every session, page and home: each loaded once."""
    return Models()


def home() -> Home:
    """This run's home, with the server process's models."""
    return Home(settings(), models())


@st.cache_resource(show_spinner="Loading the search index and sentence model…")
def _index(home_path: str):  # noqa: ANN202 - index.store.SearchIndex
    index = home().open_index()
    embedder = index.embedder  # load the sentence model once, before the first query
    embedder.prepare_queries(background=True)  # the app lives long: embed queries with ONNX Runtime
    return index


@st.cache_resource
def _index_lock(home_path: str) -> threading.Lock:
    # One SQLite connection and one torch model serve all sessions: serialise their use.
    return threading.Lock()


@contextlib.contextmanager
def locked_index() -> Iterator:
    """The home's index, held exclusively by this session while in use."""
    home_path = str(settings().home)
    index = _index(home_path)
    with _index_lock(home_path):
        yield index


def run_search(query: str, options: SearchOptions) -> list[Hit]:
    """Search the home's index (thread-safe across browser sessions)."""
    with locked_index() as index:
        return search(index, query, options)


@st.cache_data(max_entries=512, show_spinner=False)
def _clip_words(home: str, key: str, start: float, end: float, generation: int) -> tuple[Word, ...]:
    return read_clip_words(load_settings(home), key, start, end)


def clip_words(key: str, start: float, end: float) -> tuple[Word, ...]:
    """A clip's recognised words with their probabilities, read once per index generation.

    Every widget click reruns the page; the transcript file changes only with a re-index (which bumps the
    generation), so the words are not read again until then.
    """
    with locked_index() as index:
        generation = index.generation()
    return _clip_words(str(settings().home), key, start, end, generation)


def library() -> contextlib.AbstractContextManager[Library]:
    """The catalog on its own connection, closed when the block ends."""
    return home().catalog()


def jobs() -> IngestJobs:
    """The ingest jobs of this server process (they outlive a browser session)."""
    return shared_jobs()
