"""The one place for configuration: paths under the data home, models, limits.

Every value has a default; environment variables (PODSEARCH_*) override the
defaults and explicit arguments (CLI flags) override both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from podsearch.core.errors import ConfigError

DEFAULT_WHISPER_MODEL = "bundled:tiny.en"
DEFAULT_EMBED_MODEL = "bundled:all-MiniLM-L6-v2"
ENGINES = ("faster-whisper", "openai-whisper")
# Vector index past `approx_threshold` passages ("auto" = HNSW; "flat" = always exact).
INDEX_KINDS = ("auto", "flat", "hnsw", "ivfpq")
USER_AGENT = "podsearch/0.1 (+offline podcast search; polite polling)"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: a container's or taskset's limit), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
    # Documents read per refresh of a paged or archived feed (RFC 5005), the first included.
    max_feed_pages: int = 100
    # itunes:new-feed-url hops followed in one refresh before giving up.
    max_feed_moves: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Whole-transfer deadlines (headers and body, every redirect hop): a server that drips a
    # byte every few seconds never trips read_timeout. Feeds, transcripts and chapters get
    # transfer_deadline; enclosures get it plus 1 s per min_download_rate bytes received.
    transfer_deadline: float = 60.0
    min_download_rate: int = 32 << 10  # bytes/s: a 100 MB episode may take up to ~52 min
    feed_workers: int = 4  # feeds refreshed at once, so one slow feed does not hold up the rest
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
    # The feed's names and terms (show title, host, guests, sponsor) go to Whisper as its prompt.
    feed_vocabulary: bool = True
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
    # Serving a team: the admin secret (a bearer token for the API's write endpoints; also the app's
    # admin password) comes from PODSEARCH_ADMIN_TOKEN or, hashed, from `admin_hash_file`.
    admin_token: str | None = field(default=None, repr=False)
    # With OIDC sign-in (Streamlit's st.login, `[auth]` in .streamlit/secrets.toml): whose verified
    # e-mail makes them an admin (PODSEARCH_ADMIN_EMAILS, comma-separated).
    admin_emails: tuple[str, ...] = ()
    read_only: bool = False  # the app hides every admin action (PODSEARCH_READ_ONLY=1, `app --read-only`)
    serve_readers: int = 4  # index connections the API searches on at once (PODSEARCH_SERVE_READERS)
    # API server processes (PODSEARCH_SERVE_WORKERS, `serve --workers`). One by default: on 2 cores two gave
    # more throughput but a longer tail at 32 clients (kept-alive connections spread unevenly over them).
    serve_workers: int = 1
    # Where people reach the app (PODSEARCH_APP_URL, e.g. https://podsearch.example.org): links that
    # leave the app (watch feeds) open the episode there. None: only the audio links.
    app_url: str | None = None
    # Seconds the webhooks of one ingest may add to it, however many endpoints are down
    # (PODSEARCH_WEBHOOK_BUDGET); undelivered posts are retried at the next ingest.
    webhook_budget: float = 5.0

    def __post_init__(self) -> None:
        if self.index_kind not in INDEX_KINDS:
            raise ConfigError(f"unknown index kind {self.index_kind!r} (PODSEARCH_INDEX_KIND); "
                              f"choose one of: {', '.join(INDEX_KINDS)}")
        if self.transfer_deadline <= 0 or self.min_download_rate <= 0 or self.feed_workers < 1:
            raise ConfigError("transfer_deadline, min_download_rate (PODSEARCH_TRANSFER_DEADLINE, "
                              "PODSEARCH_MIN_DOWNLOAD_RATE) and feed_workers must be positive")
        if self.max_feed_pages < 1:
            raise ConfigError(f"max_feed_pages (PODSEARCH_MAX_FEED_PAGES) must be 1 or more, got {self.max_feed_pages}")
        if self.serve_workers < 1:
            raise ConfigError(f"serve_workers (PODSEARCH_SERVE_WORKERS) must be 1 or more, got {self.serve_workers}")
        if self.serve_readers < 1:
            raise ConfigError(f"serve_readers (PODSEARCH_SERVE_READERS) must be 1 or more, got {self.serve_readers}")
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
    def admin_hash_file(self) -> Path:
        """The hashed admin password (`podsearch admin set-password`)."""
        return self.data_dir / "admin-password.argon2"

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
    if os.environ.get("PODSEARCH_FEED_VOCABULARY"):
        env["feed_vocabulary"] = _env_bool("PODSEARCH_FEED_VOCABULARY")
    if os.environ.get("PODSEARCH_KEEP_FREED_MEMORY"):
        env["keep_freed_memory"] = _env_bool("PODSEARCH_KEEP_FREED_MEMORY")
    if os.environ.get("PODSEARCH_MAX_DOWNLOAD_BYTES"):
        env["max_download_bytes"] = int(os.environ["PODSEARCH_MAX_DOWNLOAD_BYTES"])
    if os.environ.get("PODSEARCH_TRANSFER_DEADLINE"):
        env["transfer_deadline"] = float(_env_int("PODSEARCH_TRANSFER_DEADLINE"))
    for key in ("min_download_rate", "feed_workers"):
        if os.environ.get(f"PODSEARCH_{key.upper()}"):
            env[key] = _env_int(f"PODSEARCH_{key.upper()}")
    if os.environ.get("PODSEARCH_MAX_FEED_PAGES"):
        env["max_feed_pages"] = _env_int("PODSEARCH_MAX_FEED_PAGES")
    if os.environ.get("PODSEARCH_APPROX_THRESHOLD"):
        env["approx_threshold"] = _env_int("PODSEARCH_APPROX_THRESHOLD")
    if os.environ.get("PODSEARCH_ADMIN_TOKEN", "").strip():
        env["admin_token"] = os.environ["PODSEARCH_ADMIN_TOKEN"].strip()
    if os.environ.get("PODSEARCH_ADMIN_EMAILS", "").strip():
        env["admin_emails"] = tuple(e.strip().lower() for e in os.environ["PODSEARCH_ADMIN_EMAILS"].split(",") if e.strip())
    if _env_bool("PODSEARCH_READ_ONLY"):
        env["read_only"] = True
    if os.environ.get("PODSEARCH_SERVE_READERS"):
        env["serve_readers"] = _env_int("PODSEARCH_SERVE_READERS")
    if os.environ.get("PODSEARCH_SERVE_WORKERS"):
        env["serve_workers"] = _env_int("PODSEARCH_SERVE_WORKERS")
    if os.environ.get("PODSEARCH_APP_URL", "").strip():
        env["app_url"] = os.environ["PODSEARCH_APP_URL"].strip()
    if os.environ.get("PODSEARCH_WEBHOOK_BUDGET"):
        env["webhook_budget"] = float(_env_int("PODSEARCH_WEBHOOK_BUDGET"))
    if os.environ.get("PODSEARCH_INDEX_KIND"):
        env["index_kind"] = os.environ["PODSEARCH_INDEX_KIND"].strip().lower()
    return Settings(home=root).with_(**env).with_(**overrides)
