"""The one place for configuration: paths under the data home, models, limits.

Every value has a default; environment variables (PODSEARCH_*) override the
defaults and explicit arguments (CLI flags) override both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from podsearch.core.errors import ConfigError

DEFAULT_WHISPER_MODEL = "bundled:tiny.en"
DEFAULT_EMBED_MODEL = "bundled:all-MiniLM-L6-v2"
ENGINES = ("faster-whisper", "openai-whisper")
# Vector index past `approx_threshold` passages ("auto" = HNSW; "flat" = always exact).
INDEX_KINDS = ("auto", "flat", "hnsw", "ivfpq")
USER_AGENT = "podsearch/0.1 (+offline podcast search; polite polling)"


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str) -> int:
    raw = os.environ[name].strip().replace("_", "")
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {os.environ[name]!r}") from None


@dataclass(frozen=True)
class Settings:
    """All knobs of one podsearch home."""

    home: Path
    engine: str = "faster-whisper"
    whisper_model: str = DEFAULT_WHISPER_MODEL
    embed_model: str = DEFAULT_EMBED_MODEL
    device: str = "auto"
    allow_private: bool = False
    max_download_bytes: int = 1 << 30  # 1 GiB
    max_feed_bytes: int = 32 << 20
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_redirects: int = 8
    user_agent: str = USER_AGENT
    download_workers: int = 2
    # Greedy decoding of 8 windows at once: ~2x the speed of beam 5 one window
    # at a time for tiny.en on 2 cores (bench/bench_ingest.py); --beam-size 5
    # --batch-size 1 is the slower, slightly more accurate choice.
    beam_size: int = 1
    batch_size: int = 8
    transcribe_workers: int = 0  # episodes transcribed at once; 0: suit the machine
    # Who speaks when (podsearch.ingest.diarize) for Whisper transcripts; publisher labels are kept.
    speakers: bool = True
    # glibc keeps transcription's freed buffers for the next window instead of
    # page-faulting them in again (ingest 1.1-1.2x faster; ingest/malloc.py). Off: less resident memory.
    keep_freed_memory: bool = True
    min_passage_seconds: float = 20.0
    max_passage_seconds: float = 60.0
    # all-MiniLM-L6-v2 truncates at 256 word pieces; words are ~1.3 pieces.
    max_passage_words: int = 170
    relevance_floor: float = 0.30
    # Whisper words below this probability are marked in quotes as uncertain (tiny.en gives most clear
    # words > 0.8; names and drug names it does not know fall well under one half).
    unsure_word_probability: float = 0.5
    # Exact search below this many passages; `index_kind` above (see index/vectors.py).
    approx_threshold: int = 50_000
    index_kind: str = "auto"

    def __post_init__(self) -> None:
        if self.index_kind not in INDEX_KINDS:
            raise ConfigError(f"unknown index kind {self.index_kind!r} (PODSEARCH_INDEX_KIND); "
                              f"choose one of: {', '.join(INDEX_KINDS)}")
        if self.approx_threshold < 0:
            raise ConfigError(f"approx_threshold (PODSEARCH_APPROX_THRESHOLD) must be 0 or more, "
                              f"got {self.approx_threshold}")

    @property
    def transcripts_dir(self) -> Path:
        return self.home / "transcripts"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def library_db(self) -> Path:
        return self.data_dir / "library.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def models_dir(self) -> Path:
        """Cache for converted model checkpoints (shared by homes of one user)."""
        override = os.environ.get("PODSEARCH_MODELS_DIR")
        if override:
            return Path(override)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "podsearch" / "models"

    def with_(self, **changes: object) -> "Settings":
        """A copy with `changes` applied, ignoring those that are None."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(home: str | os.PathLike[str] | None = None, **overrides: object) -> Settings:
    """Settings for `home` (or PODSEARCH_HOME, or the current directory)."""
    root = Path(home or os.environ.get("PODSEARCH_HOME") or os.getcwd()).expanduser().resolve()
    env: dict[str, object] = {}
    if os.environ.get("PODSEARCH_ENGINE"):
        env["engine"] = os.environ["PODSEARCH_ENGINE"]
    if os.environ.get("PODSEARCH_WHISPER_MODEL"):
        env["whisper_model"] = os.environ["PODSEARCH_WHISPER_MODEL"]
    if os.environ.get("PODSEARCH_EMBED_MODEL"):
        env["embed_model"] = os.environ["PODSEARCH_EMBED_MODEL"]
    if _env_bool("PODSEARCH_ALLOW_PRIVATE"):
        env["allow_private"] = True
    for key in ("beam_size", "batch_size", "transcribe_workers"):
        if os.environ.get(f"PODSEARCH_{key.upper()}"):
            env[key] = int(os.environ[f"PODSEARCH_{key.upper()}"])
    if os.environ.get("PODSEARCH_SPEAKERS"):
        env["speakers"] = _env_bool("PODSEARCH_SPEAKERS")
    if os.environ.get("PODSEARCH_KEEP_FREED_MEMORY"):
        env["keep_freed_memory"] = _env_bool("PODSEARCH_KEEP_FREED_MEMORY")
    if os.environ.get("PODSEARCH_MAX_DOWNLOAD_BYTES"):
        env["max_download_bytes"] = int(os.environ["PODSEARCH_MAX_DOWNLOAD_BYTES"])
    if os.environ.get("PODSEARCH_APPROX_THRESHOLD"):
        env["approx_threshold"] = _env_int("PODSEARCH_APPROX_THRESHOLD")
    if os.environ.get("PODSEARCH_INDEX_KIND"):
        env["index_kind"] = os.environ["PODSEARCH_INDEX_KIND"].strip().lower()
    return Settings(home=root).with_(**env).with_(**overrides)
