"""Turn a CTranslate2 Whisper model folder into an openai-whisper checkpoint.

The bundled model ships only in CTranslate2 format (faster-whisper's); this
lets openai-whisper run the very same weights. `model.bin` is read directly,
so the ctranslate2 Python API is not needed. Layout (binary version 2-6,
little endian; see ctranslate2/specs/model_spec.py `_serialize`):

    u32 version, str spec name, u32 spec revision, u32 variable count,
    per variable: str name, u8 rank, u32 dims[rank], u8 dtype, u32 bytes, data
    u32 alias count, per alias: str alias, str target

where str is a u16 length (NUL included) followed by the bytes and a NUL.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podsearch.core.errors import ModelError

# Order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
_MAX_BINARY_VERSION = 6


@dataclass(frozen=True)
class Ct2Model:
    """The variables of a CTranslate2 model.bin, by name (aliases resolved)."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray] = field(repr=False)


class _Reader:
    def __init__(self, buf: Any, name: str) -> None:
        self.buf, self.pos, self.name = buf, 0, name

    def take(self, fmt: str) -> Any:
        try:
            (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        except struct.error as exc:
            raise ModelError(f"{self.name}: truncated CTranslate2 model file; re-install the model") from exc
        self.pos += struct.calcsize("<" + fmt)
        return value

    def string(self) -> str:
        size = self.take("H")
        raw = bytes(self.buf[self.pos : self.pos + size])
        self.pos += size
        return raw.rstrip(b"\0").decode("utf-8")

    def array(self, dtype: str, nbytes: int, shape: tuple[int, ...]) -> np.ndarray:
        if self.pos + nbytes > len(self.buf):
            raise ModelError(f"{self.name}: truncated CTranslate2 model file; re-install the model")
        np_dtype = np.dtype("<u2") if dtype == "bfloat16" else np.dtype(dtype).newbyteorder("<")
        data = np.frombuffer(self.buf, dtype=np_dtype, count=nbytes // np_dtype.itemsize, offset=self.pos)
        self.pos += nbytes
        if dtype == "bfloat16":
            # bfloat16 is the top half of a float32.
            data = (data.astype(np.uint32) << 16).view(np.float32)
        return data.reshape(shape)


def parse_model_bin(buf: Any, name: str = "model.bin") -> Ct2Model:
    """Parse the bytes of a CTranslate2 model.bin (arrays are views of `buf`)."""
    reader = _Reader(buf, name)
    version = reader.take("I")
    if not 2 <= version <= _MAX_BINARY_VERSION:
        raise ModelError(
            f"{name}: CTranslate2 binary version {version} is not supported "
            f"(2-{_MAX_BINARY_VERSION}); convert the model with a matching ctranslate2"
        )
    spec = reader.string()
    revision = reader.take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.take("I")):
        var = reader.string()
        shape = tuple(reader.take("I") for _ in range(reader.take("B")))
        if version >= 4:
            dtype = _DTYPES[reader.take("B")]
            nbytes = reader.take("I")
        else:
            # Before v4 only the item width was stored.
            item = reader.take("B")
            dtype = {4: "float32", 2: "int16", 1: "int8"}[item]
            nbytes = reader.take("I") * item
        variables[var] = reader.array(dtype, nbytes, shape)
    if version >= 3:
        for _ in range(reader.take("I")):
            alias, target = reader.string(), reader.string()
            if target in variables:
                variables[alias] = variables[target]
            if target + "_scale" in variables:
                variables[alias + "_scale"] = variables[target + "_scale"]
    return Ct2Model(spec=spec, revision=revision, variables=variables)


def _float(variables: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A weight as floats, undoing int8/int16 quantisation (value = q / scale)."""
    value = variables[name]
    if value.dtype in (np.float16, np.float32):
        return value
    scale = variables.get(name + "_scale")
    if scale is None:
        raise ModelError(f"model.bin: {name} is quantised but has no scale; re-convert the model")
    scale = np.asarray(scale, dtype=np.float32)
    if scale.ndim == 1:  # int8: one scale per output row
        scale = scale.reshape((-1,) + (1,) * (value.ndim - 1))
    return value.astype(np.float32) / scale


def _layer_count(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"/layer_(\d+)/")
    found = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    if found != set(range(len(found))):
        raise ModelError(f"model.bin: {prefix} layers are not numbered 0..n-1; re-convert the model")
    return len(found)


def _heads(variables: dict[str, np.ndarray], prefix: str, state: int) -> int:
    value = variables.get(f"{prefix}/num_heads")
    # Every Whisper size uses 64-dimensional heads.
    return int(np.asarray(value).reshape(-1)[0]) if value is not None else state // 64


def whisper_dims(variables: dict[str, np.ndarray]) -> dict[str, int]:
    """openai-whisper ModelDimensions read off the tensor shapes."""
    try:
        conv1 = variables["encoder/conv1/weight"]
        enc_pos = variables["encoder/position_encodings/encodings"]
        dec_pos = variables["decoder/position_encodings/encodings"]
        embed = variables["decoder/embeddings/weight"]
    except KeyError as exc:
        raise ModelError(f"model.bin: missing {exc.args[0]}: not a Whisper model") from None
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(enc_pos.shape[0]),
        "n_audio_state": int(enc_pos.shape[1]),
        "n_audio_head": _heads(variables, "encoder", int(enc_pos.shape[1])),
        "n_audio_layer": _layer_count(variables, "encoder"),
        "n_vocab": int(embed.shape[0]),
        "n_text_ctx": int(dec_pos.shape[0]),
        "n_text_state": int(dec_pos.shape[1]),
        "n_text_head": _heads(variables, "decoder", int(dec_pos.shape[1])),
        "n_text_layer": _layer_count(variables, "decoder"),
    }


def _linear(out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    out[f"{dst}.weight"] = _float(v, f"{src}/weight")
    out[f"{dst}.bias"] = v[f"{src}/bias"]


def _norm(out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    out[f"{dst}.weight"] = v[f"{src}/gamma"]
    out[f"{dst}.bias"] = v[f"{src}/beta"]


def _split_linear(
    out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dsts: tuple[str, ...]
) -> None:
    """A fused projection (q,k,v or k,v) into openai-whisper's separate ones.

    openai-whisper's key projection has no bias; dropping it is exact because
    a key bias shifts every attention logit of a query by the same amount,
    which softmax ignores.
    """
    weights = np.split(_float(v, f"{src}/weight"), len(dsts), axis=0)
    biases = np.split(v[f"{src}/bias"], len(dsts), axis=0)
    for dst, weight, bias in zip(dsts, weights, biases):
        out[f"{dst}.weight"] = weight
        if not dst.endswith(".key"):
            out[f"{dst}.bias"] = bias


def _attention_block(out: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    _norm(out, v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
    _split_linear(out, v, f"{src}/self_attention/linear_0", tuple(f"{dst}.attn.{p}" for p in ("query", "key", "value")))
    _linear(out, v, f"{src}/self_attention/linear_1", f"{dst}.attn.out")
    _norm(out, v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
    _linear(out, v, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
    _linear(out, v, f"{src}/ffn/linear_1", f"{dst}.mlp.2")


def whisper_state_dict(variables: dict[str, np.ndarray], dims: dict[str, int]) -> dict[str, np.ndarray]:
    """openai-whisper state_dict arrays from CTranslate2 Whisper variables."""
    v, out = variables, {}
    try:
        for conv in ("conv1", "conv2"):
            _linear(out, v, f"encoder/{conv}", f"encoder.{conv}")
        out["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
        for i in range(dims["n_audio_layer"]):
            _attention_block(out, v, f"encoder/layer_{i}", f"encoder.blocks.{i}")
        _norm(out, v, "encoder/layer_norm", "encoder.ln_post")

        out["decoder.token_embedding.weight"] = _float(v, "decoder/embeddings/weight")
        out["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
        for i in range(dims["n_text_layer"]):
            src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
            _attention_block(out, v, src, dst)
            _norm(out, v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
            _linear(out, v, f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
            _split_linear(out, v, f"{src}/attention/linear_1", (f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"))
            _linear(out, v, f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
        _norm(out, v, "decoder/layer_norm", "decoder.ln")
    except KeyError as exc:
        raise ModelError(f"model.bin: missing {exc.args[0]}: not a Whisper model") from None
    projection = v.get("decoder/projection/weight")
    if projection is not None and not np.shares_memory(projection, v["decoder/embeddings/weight"]):
        if not np.array_equal(_float(v, "decoder/projection/weight"), out["decoder.token_embedding.weight"]):
            # openai-whisper always ties the output projection to the embeddings.
            raise ModelError("model.bin: output projection differs from the embeddings; openai-whisper cannot run it")
    return out


def alignment_heads_dump(heads: list[list[int]], n_layer: int, n_head: int) -> str:
    """Encode (layer, head) pairs as openai-whisper's `set_alignment_heads` expects."""
    mask = np.zeros((n_layer, n_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0)).decode("ascii")


def convert_ct2_to_whisper(ct2_dir: Path, out_path: Path) -> Path:
    """Write an openai-whisper checkpoint for the CTranslate2 Whisper model in `ct2_dir`.

    The checkpoint is `{"dims", "model_state_dict", "alignment_heads"}`;
    `alignment_heads` (from config.json) is an extra key openai-whisper's own
    loader ignores and `load_whisper_checkpoint` applies.
    """
    import torch

    ct2_dir, out_path = Path(ct2_dir), Path(out_path)
    model_bin = ct2_dir / "model.bin"
    if not model_bin.is_file():
        raise ModelError(f"{ct2_dir}: no model.bin, not a CTranslate2 model folder")
    config_path = ct2_dir / "config.json"
    config = json.loads(config_path.read_text("utf-8")) if config_path.is_file() else {}
    # Memory-mapped: large models are not read into memory twice.
    model = parse_model_bin(np.memmap(model_bin, dtype=np.uint8, mode="r"), str(model_bin))
    if model.spec != "WhisperSpec":
        raise ModelError(f"{model_bin}: a {model.spec} model, not Whisper")
    dims = whisper_dims(model.variables)
    state = {k: torch.from_numpy(np.array(a)) for k, a in whisper_state_dict(model.variables, dims).items()}
    checkpoint: dict[str, Any] = {"dims": dims, "model_state_dict": state}
    heads = config.get("alignment_heads")
    if heads:
        checkpoint["alignment_heads"] = alignment_heads_dump(heads, dims["n_text_layer"], dims["n_text_head"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out_path.name, suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(checkpoint, fh)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_checkpoint(ct2_dir: Path, models_dir: Path, name: str = "whisper") -> Path:
    """The converted checkpoint for `ct2_dir`, converting once per model.bin content."""
    ct2_dir = Path(ct2_dir)
    model_bin = ct2_dir / "model.bin"
    if not model_bin.is_file():
        raise ModelError(f"{ct2_dir}: no model.bin, not a CTranslate2 model folder")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    target = Path(models_dir) / f"openai-whisper-{safe}-{_file_sha256(model_bin)[:16]}.pt"
    if not target.is_file():
        convert_ct2_to_whisper(ct2_dir, target)
    return target


def load_whisper_checkpoint(path: Path, device: str = "cpu") -> Any:
    """An openai-whisper model from a checkpoint, loaded strictly, with its alignment heads."""
    import torch
    import whisper

    try:
        checkpoint = torch.load(str(path), map_location=device, weights_only=True)
        model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
        model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not a loadable openai-whisper checkpoint ({exc}); delete it to re-convert") from exc
    if checkpoint.get("alignment_heads"):
        model.set_alignment_heads(checkpoint["alignment_heads"])
    return model.to(device)
