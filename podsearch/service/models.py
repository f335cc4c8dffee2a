"""The models of one process, each loaded on first use and then shared: no process-global caches.

A `Models` is created by whoever owns the process's lifetime (the CLI
command, the app's `st.cache_resource`, the API server, a test session) and
passed down to `Home`, `IndexReaders`, `Transcriber` and `ingest`, so a
long-lived process loads each model once and a test can start from none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podsearch.core.config import DEFAULT_EMBED_MODEL

if TYPE_CHECKING:  # the stages load torch and friends: imported when a model is first asked for
    from podsearch.index.embed import Embedder
    from podsearch.index.rerank import Reranker
    from podsearch.ingest.diarize import ResemblyzerEncoder
    from podsearch.ingest.transcribe import Engine


class Models:
    """Loaded models by what identifies them; thread-safe, each loaded at most once."""

    def __init__(self) -> None:
        self._loaded: dict[tuple, Any] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def _get(self, key: tuple, load: Callable[[], Any]) -> Any:  # noqa: ANN401 - whatever `load` returns
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            # One lock per model: loading Whisper does not hold up the sentence model.
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._loaded:
                value = load()
                with self._lock:
                    self._loaded[key] = value
            return self._loaded[key]

    def loaded(self) -> list[tuple]:
        """The keys of the models loaded so far (for tests and diagnostics)."""
        with self._lock:
            return list(self._loaded)

    def embedder(self, name: str = DEFAULT_EMBED_MODEL) -> Embedder:
        """The sentence model `name`."""
        from podsearch.index.embed import Embedder

        return self._get(("embedder", name), lambda: Embedder(name))

    def reranker(self, name: str) -> Reranker:
        """The cross-encoder `name`."""
        from podsearch.index.rerank import Reranker

        return self._get(("reranker", name), lambda: Reranker(name))

    def engine(self, engine: str, model: str, *, device: str = "auto", models_dir: Path, workers: int = 1,
               threads: int | None = None, keep_freed_memory: bool = True) -> Engine:
        """The Whisper engine for these arguments (see `ingest.transcribe.load_engine`)."""
        from podsearch.ingest.transcribe import load_engine

        key = ("engine", engine, model, device, str(models_dir), workers, threads)
        return self._get(key, lambda: load_engine(engine, model, device=device, models_dir=models_dir, workers=workers,
                                                  threads=threads, keep_freed_memory=keep_freed_memory))

    def speaker_encoder(self) -> ResemblyzerEncoder:
        """The speaker encoder of the diarizer."""
        from podsearch.ingest.diarize import ResemblyzerEncoder

        return self._get(("speaker-encoder",), ResemblyzerEncoder)
