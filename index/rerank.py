"""Optional cross-encoder re-ranking (off by default; no model is bundled)."""

from __future__ import annotations

import threading
from pathlib import Path

from podsearch.core.errors import ModelError


class Reranker:
    """A sentence-transformers CrossEncoder scoring (query, passage) pairs."""

    def __init__(self, name: str) -> None:
        self.name = name
        from sentence_transformers import CrossEncoder

        path = Path(name).expanduser()
        try:
            self._model = CrossEncoder(str(path) if path.exists() else name, device="cpu")
        except Exception as exc:
            raise ModelError(
                f"cross-encoder '{name}' could not be loaded ({type(exc).__name__}); "
                "name a local cross-encoder folder, or search without --rerank"
            ) from exc
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> list[float]:
        """Relevance of each text to the query (higher is better)."""
        if not texts:
            return []
        with self._lock:
            return [float(s) for s in self._model.predict([(query, t) for t in texts])]
