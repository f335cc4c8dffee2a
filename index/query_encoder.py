"""The light query path: a sentence model's ONNX export, run by ONNX Runtime with the model's own tokenizer.

A search embeds one short query. Loading torch and sentence-transformers for that costs a cold process
seconds and hundreds of MB, so the model is exported once (the first search that finds no export makes
it) into the model cache, and every later search, server worker and MCP process loads only ONNX Runtime
and the Rust tokenizer. Nothing here imports torch at module level: only `export_query_encoder` does,
inside the call, from the eager model the caller already has.

An export folder is named by the model and a fingerprint of its files, so a changed or replaced model
never meets a stale export: it simply has none yet.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from podsearch.core.config import usable_cores

# Bumped when the files an export holds change meaning: older exports are then simply not found.
EXPORT_FORMAT = 1

# Texts whose vectors the export must give as the eager model does before it is written.
PROBES = ("how do I calm down a relative who is shouting at the front desk?", "a")


@dataclass(frozen=True)
class ExportInfo:
    """What an export folder's `export.json` records about the model it was made from."""

    name: str
    fingerprint: str
    dim: int
    max_seq_length: int
    normalize: bool
    pad_id: int
    pad_token: str
    format: int = EXPORT_FORMAT


def model_fingerprint(path: str) -> str:
    """A short hash of a local model folder's files (name, size, modification time), or of a hub name."""
    root = Path(path).expanduser()
    digest = hashlib.sha256(str(root).encode("utf-8"))
    if root.is_dir():
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"\n{file.relative_to(root)}\t{stat.st_size}\t{stat.st_mtime_ns}".encode("utf-8"))
    return digest.hexdigest()[:16]


def export_dir(cache_dir: Path, name: str, model_path: str) -> Path:
    """Where the export of model `name` (found at `model_path`) lives inside the model cache."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name)[:40] or "model"
    return cache_dir / "query-encoders" / f"{safe}-{model_fingerprint(model_path)}-v{EXPORT_FORMAT}"


def load_query_encoder(name: str, model_path: str, cache_dir: Path, threads: int | None = None, *,
                       spin: bool = True) -> QueryEncoder | None:
    """The exported encoder of `name`, or None when it has not been exported (or the model changed).

    `spin=False` keeps idle pool threads from spinning: for bulk encoding beside other work (an ingest's
    Whisper workers), where a spinning thread only takes a core from them."""
    folder = export_dir(cache_dir, name, model_path)
    try:
        info = ExportInfo(**json.loads((folder / "export.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if info.format != EXPORT_FORMAT or info.name != name:
        return None
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    session = _session(ort, str(folder / "model.onnx"), threads, spin=spin)
    return QueryEncoder(info, OnnxMeanPooling(_RustTokenizer(tokenizer, info), session, info.max_seq_length,
                                              info.normalize))


def export_query_encoder(model: Any, model_lock: threading.Lock, name: str, model_path: str,  # noqa: ANN401
                         cache_dir: Path) -> bool:
    """Export the eager sentence-transformers `model` into the cache; False when its layout has no ONNX form.

    The export is checked against the eager model on probe texts, with the tokenizer searches will use,
    before it is written; it is written into a temporary folder and renamed into place, so a search never
    finds half an export (and two processes exporting at once both end with one whole folder).
    """
    graph = export_graph(model, model_lock)
    if graph is None:
        return False
    import onnxruntime as ort

    tokenizer = model[0].tokenizer
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    info = ExportInfo(name=name, fingerprint=model_fingerprint(model_path),
                      dim=int(dim_of()), max_seq_length=int(model.max_seq_length),
                      normalize=len(list(model)) == 3, pad_id=int(tokenizer.pad_token_id or 0),
                      pad_token=str(tokenizer.pad_token or "[PAD]"))
    rust = _RustTokenizer(_tokenizer_copy(tokenizer), info)
    fast = OnnxMeanPooling(rust, _session(ort, graph, 1), info.max_seq_length, info.normalize)
    if not _gives_eager_vectors(fast, model, model_lock):
        return False
    folder = export_dir(cache_dir, name, model_path)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    staging.chmod(0o755)  # a cache like any other (mkdtemp makes it private)
    try:
        (staging / "model.onnx").write_bytes(graph)
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        (staging / "export.json").write_text(json.dumps(asdict(info), indent=1), encoding="utf-8")
        for file in staging.iterdir():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / "export.json").exists():  # not another process's whole export: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _tokenizer_copy(tokenizer: Any) -> Any:  # noqa: ANN401 - transformers' fast tokenizer
    """A private copy of the Rust tokenizer behind `tokenizer` (its padding/truncation state is ours to set)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())


def export_graph(model: Any, model_lock: threading.Lock) -> bytes | None:  # noqa: ANN401
    """The ONNX graph of `model`'s transformer (hidden states), or None for a layout other than
    Transformer -> mean Pooling (-> Normalize), or when the export fails."""
    try:
        import copy

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

        example = layers[0].tokenizer([PROBES[0]], return_tensors="pt")
        buffer = io.BytesIO()
        # The exporter warns about its deprecation and the shapes it traces; the probes are the real check.
        # The filters last as long as the export, in the thread that runs it, and are undone after it.
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
        return buffer.getvalue()
    except Exception:  # noqa: BLE001 - onnx missing, an export failure: the eager path, never a broken search
        return None


def _gives_eager_vectors(fast: OnnxMeanPooling, model: Any, model_lock: threading.Lock) -> bool:  # noqa: ANN401
    """True when the ONNX copy `fast` embeds the probe texts as the eager sentence-transformers `model` does."""
    with model_lock:
        eager = model.encode(list(PROBES), normalize_embeddings=fast.normalize, convert_to_numpy=True)
    return all(np.allclose(fast(t), e, atol=1e-4) for t, e in zip(PROBES, eager))


def _mean_only(pooling: Any) -> bool:  # noqa: ANN401 - sentence_transformers Pooling
    """True for plain mean pooling (sentence-transformers 6 names it `pooling_mode`, older ones use flags)."""
    config = pooling.get_config_dict()
    if "pooling_mode" in config:
        return config["pooling_mode"] in ("mean", ["mean"]) and config.get("include_prompt", True)
    flags = {k: v for k, v in config.items() if k.startswith("pooling_mode_")}
    return flags.get("pooling_mode_mean_tokens") is True and sum(bool(v) for v in flags.values()) == 1


def _session(ort: Any, graph: bytes | str, threads: int | None, spin: bool = True) -> Any:  # noqa: ANN401
    """An ONNX Runtime session on `threads` CPU threads per run (None: up to 4)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(4, usable_cores())
    options.inter_op_num_threads = 1
    if threads == 1 or not spin:
        # Concurrent requests (or an ingest's Whisper workers) are the parallelism: idle pool threads
        # spinning for work only steal cores from them.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class _RustTokenizer:
    """The model's Rust tokenizer, called as transformers calls its fast tokenizer (right padding, truncation)."""

    padding_side = "right"

    def __init__(self, tokenizer: Any, info: ExportInfo) -> None:  # noqa: ANN401 - tokenizers.Tokenizer
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=info.max_seq_length)
        tokenizer.enable_padding(direction="right", pad_id=info.pad_id, pad_token=info.pad_token)
        self.tokenizer = tokenizer

    def __call__(self, texts: list[str], **_: object) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)}


class QueryEncoder:
    """A sentence model without torch (its ONNX export): what `SearchIndex` asks of its embedder, for
    queries and, in bulk, for passages (vectors as the eager model's within 1e-5, tests/test_query_encoder.py)."""

    def __init__(self, info: ExportInfo, fast: OnnxMeanPooling) -> None:
        self.name, self.dim, self.max_seq_length = info.name, info.dim, info.max_seq_length
        self._fast = fast
        # Each app interaction reruns its search: the same query, embedded once.
        self.encode_query = lru_cache(maxsize=512)(self._encode_query)

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self._fast(text)
        vector.setflags(write=False)
        return vector

    def encode(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text (as `Embedder.encode`)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Texts of like length batched together pad little (as sentence-transformers does); each row
        # pools over its own tokens only, so the order changes no vector.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray = np.empty((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(order), batch_size):
            chunk = order[i : i + batch_size]
            out[chunk] = np.stack(self._fast._embed([texts[j] for j in chunk]))
        return out


class OnnxMeanPooling:
    """Transformer + mean pooling + normalisation, run by ONNX Runtime, for a few short texts at a time.

    A query's embedding in eager PyTorch is mostly per-operator overhead; ONNX Runtime's fused graph
    embeds it several times faster (docs/benchmarks.md).
    """

    # Queries embedded in one run at most: a server's concurrent requests rarely wait in more.
    MAX_BATCH = 16

    def __init__(self, tokenizer: Any, session: Any, max_length: int, normalize: bool) -> None:  # noqa: ANN401
        self.tokenizer, self.session, self.max_length, self.normalize = tokenizer, session, max_length, normalize
        # A fast tokenizer must not be called from two threads at once ("Already borrowed").
        self.lock = threading.Lock()
        # Queries asked for while a run is under way wait here and go in the next run, together.
        self._turn = threading.Condition()
        self._waiting: list[_Query] = []
        self._running = False
        # Right padding keeps each query's tokens at the positions they have alone; other tokenizers go one by one.
        self.max_batch = self.MAX_BATCH if getattr(tokenizer, "padding_side", "right") == "right" else 1

    def __call__(self, text: str) -> np.ndarray:
        """`text`'s vector; concurrent callers are embedded together, in one run of the model.

        One run for a batch of short queries costs little more than for one, and gives each row the
        vector bit for bit it gets alone (tests/test_embed.py). No thread waits to gather a batch:
        whoever finds the model idle runs what is waiting, so a lone query goes at once.
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
        self.text: str = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        assert self.vector is not None
        return self.vector
