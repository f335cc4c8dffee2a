"""Downloads into the audio cache, against real servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from httpserver import LocalServer

from podsearch.ingest import download as dl
from podsearch.core.config import Settings
from podsearch.core.errors import BlockedAddressError, DownloadError

DATA = Path(__file__).parent / "data"
MP3 = (DATA / "multilingual.mp3").read_bytes()  # ~240 KB, starts with ID3
ETAG = '"mp3-v1"'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The test server is on loopback, so the guard must let private addresses through.
    return Settings(home=tmp_path, allow_private=True, read_timeout=5.0, connect_timeout=5.0)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "audio"


def sha(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def stored(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# --- happy path and cache -----------------------------------------------------------


def test_download_and_cache_hit(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", etag=ETAG)
    url = http_server.url("/ep1.mp3")
    seen: list[tuple[int, int | None]] = []
    path = dl.download(url, cache, settings=settings, progress=lambda got, total: seen.append((got, total)))
    assert path == cache / f"{sha(url)}.mp3"
    assert path.read_bytes() == MP3
    assert stored(cache) == [path.name]  # no .part, .part.json or .lock left behind
    assert seen[-1] == (len(MP3), len(MP3))
    assert dl.download(url, cache, settings=settings) == path
    assert len(http_server.requests) == 1  # the second call was a cache hit


def test_extension_from_url_when_type_is_generic(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep.m4a", MP3, content_type="application/octet-stream")
    http_server.route("/ep.sh", MP3, content_type="application/octet-stream")
    assert dl.download(http_server.url("/ep.m4a"), cache, settings=settings).suffix == ".m4a"
    assert dl.download(http_server.url("/ep.sh"), cache, settings=settings).suffix == ".bin"


def test_transcript_download(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    vtt = (DATA / "podcasting20" / "transcripts_example.vtt").read_bytes()
    http_server.route("/ep1.vtt", vtt, content_type="text/vtt")
    path = dl.download(http_server.url("/ep1.vtt"), cache, settings=settings, expected_type="transcript")
    assert path.suffix == ".vtt" and path.read_bytes() == vtt


def test_audio_as_transcript_refused(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.vtt", MP3, content_type="audio/mpeg")
    with pytest.raises(DownloadError, match="not a transcript"):
        dl.download(http_server.url("/ep1.vtt"), cache, settings=settings, expected_type="transcript")
    assert stored(cache) == []


# --- resume ---------------------------------------------------------------------------


def test_resume_after_connection_dropped(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", etag=ETAG, drop_after=50_000)
    url = http_server.url("/ep1.mp3")
    with pytest.raises(DownloadError, match=f"incomplete \\(got 50000 of {len(MP3)} bytes.*run ingest again to resume"):
        dl.download(url, cache, settings=settings)
    part = cache / f"{sha(url)}.part"
    assert part.stat().st_size == 50_000
    assert not (cache / f"{sha(url)}.mp3").exists()

    path = dl.download(url, cache, settings=settings)
    assert path.read_bytes() == MP3
    resumed = http_server.requests[1].headers
    assert resumed["range"] == "bytes=50000-"
    assert resumed["if-range"] == ETAG
    assert stored(cache) == [path.name]


def test_resume_restarts_when_server_ignores_range(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", drop_after=70_000, ranges=False)
    url = http_server.url("/ep1.mp3")
    with pytest.raises(DownloadError, match="incomplete"):
        dl.download(url, cache, settings=settings)
    path = dl.download(url, cache, settings=settings)
    assert http_server.requests[1].headers["range"] == "bytes=70000-"
    assert path.read_bytes() == MP3  # a 200 starts over instead of appending


def test_resume_restarts_when_file_changed(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    route = http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", etag=ETAG, drop_after=50_000)
    url = http_server.url("/ep1.mp3")
    with pytest.raises(DownloadError, match="incomplete"):
        dl.download(url, cache, settings=settings)
    # The publisher re-encoded the episode: If-Range no longer matches.
    new = MP3[:1000] + b"\x00" * 5000 + MP3[1000:]
    route.body, route.etag = new, '"mp3-v2"'
    path = dl.download(url, cache, settings=settings)
    assert path.read_bytes() == new


def test_416_when_part_is_already_complete(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    # A previous run received every byte but stopped before renaming.
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg")
    url = http_server.url("/ep1.mp3")
    cache.mkdir()
    (cache / f"{sha(url)}.part").write_bytes(MP3)
    path = dl.download(url, cache, settings=settings)
    assert http_server.requests[0].headers["range"] == f"bytes={len(MP3)}-"
    assert path.name == f"{sha(url)}.mp3" and path.read_bytes() == MP3
    assert len(http_server.requests) == 1


def test_416_when_part_is_longer_than_file(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg")
    url = http_server.url("/ep1.mp3")
    cache.mkdir()
    (cache / f"{sha(url)}.part").write_bytes(MP3 + b"stale tail")
    path = dl.download(url, cache, settings=settings)
    assert [r.headers.get("range") for r in http_server.requests] == [f"bytes={len(MP3) + 10}-", None]
    assert path.read_bytes() == MP3


def test_short_body_keeps_part(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    # Declares more than it sends, then closes cleanly.
    http_server.route("/ep1.mp3", MP3[:10_000], content_type="audio/mpeg", content_length=20_000)
    url = http_server.url("/ep1.mp3")
    with pytest.raises(DownloadError, match="incomplete \\(got 10000 of 20000 bytes"):
        dl.download(url, cache, settings=settings)
    assert (cache / f"{sha(url)}.part").stat().st_size == 10_000


# --- content checks -------------------------------------------------------------------------


def test_html_served_as_audio_refused(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", b"<html><body>Please log in</body></html>", content_type="text/html")
    with pytest.raises(DownloadError, match="served as text/html, not audio"):
        dl.download(http_server.url("/ep1.mp3"), cache, settings=settings)
    assert stored(cache) == []


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>404 - episode not found</body></html>" * 100,
        b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>",
        b"Service temporarily unavailable. Please try again later.\n",
    ],
)
def test_text_with_audio_content_type_refused(
    http_server: LocalServer, settings: Settings, cache: Path, body: bytes
) -> None:
    http_server.route("/ep1.mp3", body, content_type="audio/mpeg")
    with pytest.raises(DownloadError, match="not audio"):
        dl.download(http_server.url("/ep1.mp3"), cache, settings=settings)
    assert stored(cache) == []


def test_any_type_skips_audio_checks(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/cover.html", b"<html></html>", content_type="text/html")
    path = dl.download(http_server.url("/cover.html"), cache, settings=settings, expected_type="any")
    assert path.suffix == ".html" and path.read_bytes() == b"<html></html>"


def test_content_length_over_cap_refused_before_body(
    http_server: LocalServer, settings: Settings, cache: Path
) -> None:
    # The body only comes after 5 s; with a 0.5 s read timeout, reading it at all
    # would end in a timeout rather than the cap error.
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", body_delay=5.0)
    small = settings.with_(max_download_bytes=100_000, read_timeout=0.5)
    with pytest.raises(DownloadError, match="larger than the 97.7 KiB cap; raise it with --max-download-bytes"):
        dl.download(http_server.url("/ep1.mp3"), cache, settings=small)
    assert stored(cache) == []


def test_cap_enforced_while_streaming(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    def no_length(req) -> None:  # type: ignore[no-untyped-def]
        req.send_response(200)
        req.send_header("Content-Type", "audio/mpeg")
        req.send_header("Connection", "close")
        req.end_headers()
        try:
            req.wfile.write(MP3)
        except OSError:
            pass

    http_server.route("/ep1.mp3", handler=no_length)
    with pytest.raises(DownloadError, match="larger than"):
        dl.download(http_server.url("/ep1.mp3"), cache, settings=settings.with_(max_download_bytes=100_000))
    assert stored(cache) == []
    assert dl.download(http_server.url("/ep1.mp3"), cache, settings=settings).read_bytes() == MP3


def test_http_error_stores_nothing(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        dl.download(http_server.url("/missing.mp3"), cache, settings=settings)
    assert stored(cache) == []


# --- names, schemes, guard -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/../../etc/passwd.mp3", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd.mp3", "/..%2f..%2f..%2ftmp%2fx.mp3", "/a/..%5c..%5cb.mp3"]
)
def test_hostile_names_stay_in_cache(http_server: LocalServer, settings: Settings, cache: Path, path: str) -> None:
    http_server.route("*", MP3, content_type="application/octet-stream")
    url = http_server.url(path)
    result = dl.download(url, cache, settings=settings)
    assert result.parent == cache
    assert result.name == f"{sha(url)}.mp3"
    assert stored(cache) == [result.name]


def test_file_url_refused_without_local_ok(tmp_path: Path, settings: Settings, cache: Path) -> None:
    audio = tmp_path / "ep.mp3"
    audio.write_bytes(MP3)
    for url in (audio.as_uri(), str(audio), "file:///etc/passwd", "file://fileserver/share/ep.mp3"):
        with pytest.raises(BlockedAddressError, match="local files are only allowed|not supported"):
            dl.download(url, cache, settings=settings)
    assert stored(cache) == []


def test_redirect_to_file_url_refused_even_for_local_feeds(
    http_server: LocalServer, tmp_path: Path, settings: Settings, cache: Path
) -> None:
    audio = tmp_path / "ep.mp3"
    audio.write_bytes(MP3)
    http_server.redirect("/ep1.mp3", audio.as_uri())
    with pytest.raises(BlockedAddressError, match="only http"):
        dl.download(http_server.url("/ep1.mp3"), cache, settings=settings, local_ok=True)
    assert stored(cache) == []


def test_private_address_refused_before_connecting(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg")
    with pytest.raises(BlockedAddressError):
        dl.download(http_server.url("/ep1.mp3"), cache, settings=settings.with_(allow_private=False))
    assert http_server.requests == []


def test_local_enclosure(tmp_path: Path, settings: Settings, cache: Path) -> None:
    audio = tmp_path / "show" / "ep 1%20.mp3"
    audio.parent.mkdir()
    audio.write_bytes(MP3)
    by_uri = dl.download(audio.as_uri(), cache, settings=settings, local_ok=True)
    assert by_uri.parent == cache and by_uri.suffix == ".mp3" and by_uri.read_bytes() == MP3
    assert dl.download(str(audio), cache, settings=settings, local_ok=True) == by_uri


def test_local_enclosure_checked(tmp_path: Path, settings: Settings, cache: Path) -> None:
    page = tmp_path / "ep.mp3"
    page.write_bytes(b"<html>not audio</html>")
    with pytest.raises(DownloadError, match="does not look like audio"):
        dl.download(str(page), cache, settings=settings, local_ok=True)
    with pytest.raises(DownloadError, match="no such file"):
        dl.download(str(tmp_path / "missing.mp3"), cache, settings=settings, local_ok=True)
    page.write_bytes(MP3)
    with pytest.raises(DownloadError, match="larger than"):
        dl.download(str(page), cache, settings=settings.with_(max_download_bytes=1000), local_ok=True)
    assert stored(cache) == []


# --- concurrency -------------------------------------------------------------------------------------


def test_concurrent_downloads_of_one_url(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    # The body stalls so all threads overlap; only one may fetch, the rest reuse it.
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", body_delay=0.3)
    url = http_server.url("/ep1.mp3")
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(dl.download(url, cache, settings=settings))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1 and results[0].read_bytes() == MP3
    assert len(http_server.requests) == 1
    assert stored(cache) == [results[0].name]


def test_meta_sidecar_written_for_resume(http_server: LocalServer, settings: Settings, cache: Path) -> None:
    http_server.route("/ep1.mp3", MP3, content_type="audio/mpeg", etag=ETAG, drop_after=50_000)
    url = http_server.url("/ep1.mp3")
    with pytest.raises(DownloadError):
        dl.download(url, cache, settings=settings)
    meta = json.loads((cache / f"{sha(url)}.part.json").read_text())
    assert meta == {"etag": ETAG, "last_modified": None, "total": len(MP3), "content_type": "audio/mpeg"}
