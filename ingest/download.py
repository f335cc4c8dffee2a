"""Resumable, checked downloads of enclosures and transcripts into a cache dir.

A cached file is named by the sha256 of its URL plus an extension from a
whitelist, never by the URL's path, so hostile URLs cannot escape `dest_dir`.
Bytes stream into `<hash>.part` (resumed with a Range request next time) and
are renamed into place only when complete. Audio is checked twice before a
byte is stored: by Content-Type and by sniffing the first bytes, so an HTML
error page is never cached as an episode.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from podsearch.ingest import net
from podsearch.ingest.audio import sniff_audio
from podsearch.core.config import Settings
from podsearch.core.errors import BlockedAddressError, DownloadError

ExpectedType = Literal["audio", "transcript", "any"]
Progress = Callable[[int, "int | None"], None]

_SNIFF_BYTES = 4096

# Content types -> extension. Generic types (octet-stream) fall through to the
# URL's suffix, and then to ".bin".
_TYPE_EXT = {
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/aacp": ".aac",
    "audio/ogg": ".ogg",
    "application/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/webm": ".webm",
    "video/webm": ".webm",
    "video/mp4": ".mp4",
    "video/x-m4v": ".m4v",
    "video/quicktime": ".mov",
    "text/vtt": ".vtt",
    "application/x-subrip": ".srt",
    "application/srt": ".srt",
    "text/srt": ".srt",
    "application/json": ".json",
    "text/html": ".html",
    "text/plain": ".txt",
}
_EXTENSIONS = frozenset(_TYPE_EXT.values()) | {".bin"}
_AUDIO_GENERIC = frozenset({"application/octet-stream", "binary/octet-stream", "application/x-octet-stream"})
_AUDIO_TYPES = ("audio/", "video/")
_AUDIO_EXACT = frozenset({"application/ogg", "application/mp4"}) | _AUDIO_GENERIC
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def cache_stem(url: str) -> str:
    """The cache file name of `url` without extension: its sha256 in hex."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def cached_path(url: str, dest_dir: Path) -> Path | None:
    """The complete cached file of `url` in `dest_dir`, if there is one."""
    stem = cache_stem(_cache_key(url))
    for ext in sorted(_EXTENSIONS):
        candidate = Path(dest_dir) / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None


def download(
    url: str,
    dest_dir: Path,
    *,
    settings: Settings,
    expected_type: ExpectedType = "audio",
    local_ok: bool = False,
    progress: Progress | None = None,
    resolver: net.Resolver = socket.getaddrinfo,
) -> Path:
    """Download `url` into `dest_dir` (or return the cached copy) and return its path.

    Resumes a `.part` left by an earlier attempt. Raises BlockedAddressError
    for refused addresses or local paths without `local_ok`, DownloadError for
    HTTP/transport errors, bodies over the cap, incomplete bodies (the .part is
    kept for the next run) and content that is not `expected_type`.
    Thread-safe: concurrent calls for one URL download it once.
    """
    dest_dir = Path(dest_dir)
    local = _local_path(url)
    if local is not None and not local_ok:
        raise BlockedAddressError(
            f"{url}: local files are only allowed as enclosures of a local feed file; check the feed"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_stem(_cache_key(url))
    with _target_lock(dest_dir / f"{stem}.lock"):
        done = cached_path(url, dest_dir)
        if done is not None:
            return done
        if local is not None:
            return _copy_local(url, local, dest_dir / stem, settings, expected_type)
        return _fetch_to_cache(url, dest_dir / stem, settings, expected_type, progress, resolver)


# --- local files ------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    """The path a file:// URL or a plain path names; None for any other URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BlockedAddressError(f"{url}: file:// URLs on other hosts are not supported; use a local path")
        return Path(url2pathname(parts.path))  # url2pathname also percent-decodes
    # "C:\x.mp3" parses with scheme "c"; a one-letter scheme is a drive letter.
    if scheme == "" or len(scheme) == 1:
        return Path(url).expanduser()
    return None


def _cache_key(url: str) -> str:
    # Local paths are keyed by their absolute file:// URI so "./a.mp3" and its
    # absolute spelling share one cache entry.
    local = _local_path(url)
    return local.resolve().as_uri() if local is not None else url


def _copy_local(url: str, src: Path, base: Path, settings: Settings, expected_type: ExpectedType) -> Path:
    """Hard-link (or copy) a local enclosure into the cache after the same checks."""
    if not src.is_file():
        raise DownloadError(f"{url}: no such file; check the enclosure path in the feed")
    size = src.stat().st_size
    cap = _cap(settings, expected_type)
    if size > cap:
        raise _too_big(url, cap, expected_type)
    if expected_type == "audio":
        with src.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
        if not sniff_audio(head, mimetypes.guess_type(src.name)[0]):
            raise DownloadError(f"{url}: file does not look like audio; check the enclosure path in the feed")
    ext = src.suffix.lower() if src.suffix.lower() in _EXTENSIONS else ".bin"
    final = base.with_name(base.name + ext)
    tmp = base.with_name(f"{base.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:  # other file system, or links not supported
        shutil.copyfile(src, tmp)
    os.replace(tmp, final)
    return final


# --- network -----------------------------------------------------------------------


def _fetch_to_cache(
    url: str,
    base: Path,
    settings: Settings,
    expected_type: ExpectedType,
    progress: Progress | None,
    resolver: net.Resolver,
) -> Path:
    part = base.with_name(base.name + ".part")
    meta_path = base.with_name(base.name + ".part.json")
    cap = _cap(settings, expected_type)
    # Two rounds at most: the second only after the server rejected our resume.
    for _ in range(2):
        meta = _read_meta(meta_path) if part.exists() else {}
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = _if_range(meta)
            if validator:
                headers["If-Range"] = validator
        # Enclosures may take longer the bigger they are; transcripts and chapters get the flat deadline.
        rate = settings.min_download_rate if expected_type == "audio" else None
        with net.open_url(url, settings=settings, headers=headers, resolver=resolver, min_rate=rate) as opened:
            response = opened.response
            if response.status_code == 416:
                if offset and _range_total(response) == offset:
                    known = meta.get("content_type")
                    return _finish(part, meta_path, base, known if isinstance(known, str) else None, url)
                _discard(part, meta_path)
                continue
            net.raise_for_status(opened)
            if response.status_code == 206:
                start, total = _parse_content_range(response)
                if start != offset or (meta.get("total") not in (None, total)):
                    _discard(part, meta_path)
                    continue
            elif response.status_code == 200:
                offset = 0
                declared = net.content_length(response)
                total = declared if _identity(response) else None
            else:
                raise DownloadError(
                    f"{url}: unexpected HTTP {response.status_code} {response.reason_phrase}; try again later"
                )
            if total is not None and total > cap:
                raise _too_big(url, cap, expected_type)
            content_type = _media_type(response)
            _check_type(url, content_type, expected_type)
            if offset == 0:
                _write_meta(meta_path, response, total, content_type)
            _stream(opened, part, meta_path, offset, total, cap, expected_type, content_type, progress)
            return _finish(part, meta_path, base, content_type, url)
    raise DownloadError(f"{url}: the server rejected resuming twice; delete {part} and try again")


def _stream(
    opened: net.Opened,
    part: Path,
    meta_path: Path,
    offset: int,
    total: int | None,
    cap: int,
    expected_type: ExpectedType,
    content_type: str | None,
    progress: Progress | None,
) -> None:
    """Append the body to `part`; sniff before the first byte is stored."""
    url = opened.url
    response = opened.response
    received = offset
    head = bytearray()
    sniffing = expected_type == "audio" and offset == 0

    def store(handle: BinaryIO, data: bytes) -> None:
        nonlocal received
        if received + len(data) > cap:
            handle.close()
            _discard(part, meta_path)
            raise _too_big(url, cap, expected_type)
        handle.write(data)
        received += len(data)
        if progress is not None:
            progress(received, total)

    def sniff_and_store(handle: BinaryIO) -> None:
        if not sniff_audio(bytes(head), content_type):
            handle.close()
            _discard(part, meta_path)
            raise DownloadError(
                f"{url}: content is not audio (served as {content_type or 'unknown type'}, "
                "probably an error page); check the enclosure URL"
            )
        store(handle, bytes(head))

    with part.open("ab" if offset else "wb") as handle:
        try:
            # No chunk_size: httpx would hold back a partial chunk when the link drops.
            for chunk in response.iter_bytes():
                if sniffing:
                    head.extend(chunk)
                    if len(head) >= _SNIFF_BYTES:
                        sniffing = False
                        sniff_and_store(handle)
                    continue
                store(handle, chunk)
            if sniffing:
                sniffing = False
                sniff_and_store(handle)
        except httpx.TransportError as exc:
            if sniffing and head:  # keep what arrived, if it passes the sniff
                sniff_and_store(handle)
            raise _incomplete(url, received, total, net.one_line(exc)) from exc
    if total is not None and received < total:
        raise _incomplete(url, received, total, "connection closed early")


def _finish(part: Path, meta_path: Path, base: Path, content_type: str | None, url: str) -> Path:
    final = base.with_name(base.name + _extension(content_type, url))
    os.replace(part, final)
    meta_path.unlink(missing_ok=True)
    return final


def _incomplete(url: str, got: int, total: int | None, why: str) -> DownloadError:
    of = f"{got} of {total}" if total is not None else f"{got} of unknown"
    return DownloadError(f"{url}: download incomplete (got {of} bytes; {why}); run ingest again to resume")


def _discard(part: Path, meta_path: Path) -> None:
    part.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


# --- checks and names ---------------------------------------------------------------


def _cap(settings: Settings, expected_type: ExpectedType) -> int:
    # A transcript is text; anything feed-sized or bigger is not one.
    return settings.max_feed_bytes if expected_type == "transcript" else settings.max_download_bytes


def _too_big(url: str, cap: int, expected_type: ExpectedType) -> DownloadError:
    if expected_type == "transcript":
        return DownloadError(f"{url}: transcript is larger than the {net.human_bytes(cap)} cap; skipping it")
    return DownloadError(
        f"{url}: is larger than the {net.human_bytes(cap)} cap; "
        "raise it with --max-download-bytes / PODSEARCH_MAX_DOWNLOAD_BYTES"
    )


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return value or None


def _check_type(url: str, content_type: str | None, expected_type: ExpectedType) -> None:
    """Refuse a response whose declared type cannot be `expected_type`."""
    if content_type is None or expected_type == "any":
        return
    is_media = content_type.startswith(_AUDIO_TYPES) or content_type in _AUDIO_EXACT
    if expected_type == "audio" and not is_media:
        raise DownloadError(
            f"{url}: served as {content_type}, not audio (probably an error page); check the enclosure URL"
        )
    if expected_type == "transcript" and content_type.startswith(_AUDIO_TYPES):
        raise DownloadError(f"{url}: served as {content_type}, not a transcript; check the transcript URL")


def _identity(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")


def _extension(content_type: str | None, url: str) -> str:
    """A whitelisted extension: from a specific content type, else the URL suffix, else .bin."""
    if content_type in _TYPE_EXT:
        return _TYPE_EXT[content_type]
    suffix = os.path.splitext(unquote(urlsplit(url).path))[1].lower()
    return suffix if suffix in _EXTENSIONS else ".bin"


def _parse_content_range(response: httpx.Response) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if not match:
        raise DownloadError(f"{response.request.url}: partial response without a valid Content-Range; try again later")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _range_total(response: httpx.Response) -> int | None:
    match = re.fullmatch(r"bytes\s+\*/(\d+)", response.headers.get("content-range", "").strip(), re.IGNORECASE)
    return int(match.group(1)) if match else None


# --- resume metadata ------------------------------------------------------------------


def _write_meta(path: Path, response: httpx.Response, total: int | None, content_type: str | None) -> None:
    meta = {
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
        "total": total,
        "content_type": content_type,
    }
    path.write_text(json.dumps(meta), encoding="utf-8")


def _read_meta(path: Path) -> dict[str, object]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _if_range(meta: dict[str, object]) -> str | None:
    """A validator so a changed file is sent whole (200) instead of spliced."""
    etag = meta.get("etag")
    if isinstance(etag, str) and not etag.startswith("W/"):  # If-Range needs a strong ETag
        return etag
    modified = meta.get("last_modified")
    return modified if isinstance(modified, str) else None


# --- locking -----------------------------------------------------------------------------


@contextmanager
def _target_lock(path: Path) -> Iterator[None]:
    """Exclusive lock per cache target, across threads and processes."""
    try:
        import fcntl
    except ImportError:  # Windows: threads of this process only
        with _thread_lock(str(path)):
            yield
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # The holder before us unlinks the file on release; retry on a fresh one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.unlink(path)
        os.close(fd)


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())
