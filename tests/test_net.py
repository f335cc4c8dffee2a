"""The SSRF guard and the guarded HTTP client, against real servers on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from httpserver import LocalServer

from podsearch.ingest import net
from podsearch.core.config import Settings
from podsearch.core.errors import BlockedAddressError, DownloadError, FeedError

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The test server is on loopback, so the guard must let private addresses through.
    return Settings(home=tmp_path, allow_private=True, read_timeout=5.0, connect_timeout=5.0)


def resolver_to(*addresses: str, calls: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A getaddrinfo stand-in answering every name with `addresses`."""

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if calls is not None:
            calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


# --- is_blocked_address ----------------------------------------------------------

BLOCKED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.5",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456:789a::1",  # ULA
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.5",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:0a00:0005::",  # 6to4 of 10.0.0.5
    "not an address",
    "",
]
ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just outside 172.16/12
    "100.128.0.1",  # just outside CGNAT
    "2606:2800:220:1:248:1893:25c8:1946",
    "2001:4860:4860::8888",
    "::ffff:93.184.216.34",
    "2002:5db8:d822::",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize("ip", BLOCKED)
def test_blocked_addresses(ip: str) -> None:
    assert net.is_blocked_address(ip)


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses_allowed(ip: str) -> None:
    assert not net.is_blocked_address(ip)


# --- check_url --------------------------------------------------------------------


@pytest.mark.parametrize("ip", ["10.0.0.5", "169.254.169.254", "::1", "127.0.0.1", "fd00::5"])
def test_check_url_refuses_private_answers(ip: str) -> None:
    with pytest.raises(BlockedAddressError, match="non-public address"):
        net.check_url("https://feeds.example.com/rss", allow_private=False, resolver=resolver_to(ip))


def test_check_url_allows_public_answer_without_connecting() -> None:
    calls: list[str] = []
    net.check_url("https://feeds.example.com/rss", allow_private=False, resolver=resolver_to("93.184.216.34", calls=calls))
    assert calls == ["feeds.example.com"]


def test_check_url_refuses_if_any_answer_is_private() -> None:
    with pytest.raises(BlockedAddressError):
        net.check_url(
            "http://feeds.example.com/", allow_private=False, resolver=resolver_to("93.184.216.34", "10.0.0.5")
        )


def test_check_url_allow_private() -> None:
    net.check_url("http://nas.local/feed", allow_private=True, resolver=resolver_to("192.168.1.10"))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.mp3", "gopher://x/", "data:text/plain,hi", "/etc/passwd"]
)
def test_check_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="only http"):
        net.check_url(url, allow_private=True, resolver=resolver_to("93.184.216.34"))


def test_check_url_dns_failure() -> None:
    def fail(*args: object, **kwargs: object) -> list[tuple[object, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(DownloadError, match="cannot resolve host 'nope.invalid'"):
        net.check_url("https://nope.invalid/feed", allow_private=False, resolver=fail)


# --- fetch: basics and the guard -------------------------------------------------------


def test_fetch_ok(http_server: LocalServer, settings: Settings) -> None:
    http_server.route("/feed.xml", FEED, content_type="application/rss+xml", etag='"v1"')
    result = net.fetch(http_server.url("/feed.xml"), settings=settings)
    assert result.status == 200
    assert result.content == FEED
    assert result.etag == '"v1"'
    assert result.content_type == "application/rss+xml"
    assert not result.not_modified and result.moved_permanently_to is None
    assert result.final_url == result.url == http_server.url("/feed.xml")
    assert http_server.requests[0].headers["user-agent"] == settings.user_agent


def test_fetch_refused_before_connecting(http_server: LocalServer, settings: Settings) -> None:
    http_server.route("/feed.xml", FEED)
    with pytest.raises(BlockedAddressError):
        net.fetch(http_server.url("/feed.xml"), settings=settings.with_(allow_private=False))
    assert http_server.requests == []


def test_fetch_pins_connection_to_checked_address(http_server: LocalServer, settings: Settings) -> None:
    # ".invalid" never resolves for real: the request can only arrive if the
    # connection goes to the address the guard checked, with the name kept as Host.
    http_server.route("/feed.xml", FEED)
    calls: list[str] = []
    url = http_server.url("/feed.xml", host="podcast.invalid")
    result = net.fetch(url, settings=settings, resolver=resolver_to("127.0.0.1", calls=calls))
    assert result.content == FEED
    assert calls == ["podcast.invalid"]
    assert http_server.requests[0].headers["host"] == f"podcast.invalid:{http_server.port}"


def test_fetch_tries_next_address_when_first_refuses(http_server: LocalServer, settings: Settings) -> None:
    http_server.route("/feed.xml", FEED)
    # ::1 has no listener on this port (the server binds 127.0.0.1 only).
    result = net.fetch(
        http_server.url("/feed.xml", host="podcast.invalid"),
        settings=settings,
        resolver=resolver_to("::1", "127.0.0.1"),
    )
    assert result.content == FEED


def test_every_redirect_hop_is_checked(
    http_server: LocalServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the test server's loopback address is public, so the first hop
    # passes the strict guard and the redirect target's private answer is what fails.
    real = net.is_blocked_address
    monkeypatch.setattr(net, "is_blocked_address", lambda ip: ip != "127.0.0.1" and real(ip))
    http_server.redirect("/feed.xml", f"http://internal.invalid:{http_server.port}/admin")

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        # Another loopback address, so even a broken guard could only reach this machine.
        ip = "127.0.0.2" if host == "internal.invalid" else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    with pytest.raises(BlockedAddressError, match="internal.invalid resolves to non-public address 127.0.0.2"):
        net.fetch(http_server.url("/feed.xml"), settings=settings.with_(allow_private=False), resolver=resolve)
    assert [r.path for r in http_server.requests] == ["/feed.xml"]


def test_redirect_to_file_url_refused(http_server: LocalServer, settings: Settings) -> None:
    http_server.redirect("/feed.xml", "file:///etc/passwd")
    with pytest.raises(BlockedAddressError, match="only http"):
        net.fetch(http_server.url("/feed.xml"), settings=settings)


# --- conditional GET -----------------------------------------------------------------


def test_conditional_get_etag(http_server: LocalServer, settings: Settings) -> None:
    http_server.route("/feed.xml", FEED, etag='"abc"')
    first = net.fetch(http_server.url("/feed.xml"), settings=settings)
    again = net.fetch(http_server.url("/feed.xml"), settings=settings, etag=first.etag)
    assert again.not_modified and again.status == 304
    assert again.content == b""
    assert again.etag == '"abc"'
    assert http_server.requests[1].headers["if-none-match"] == '"abc"'
    changed = net.fetch(http_server.url("/feed.xml"), settings=settings, etag='"old"')
    assert not changed.not_modified and changed.content == FEED


def test_conditional_get_last_modified(http_server: LocalServer, settings: Settings) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    http_server.route("/feed.xml", FEED, last_modified=stamp)
    first = net.fetch(http_server.url("/feed.xml"), settings=settings)
    assert first.last_modified == stamp and first.etag is None
    again = net.fetch(http_server.url("/feed.xml"), settings=settings, last_modified=first.last_modified)
    assert again.not_modified
    assert again.last_modified == stamp
    assert http_server.requests[1].headers["if-modified-since"] == stamp
    older = net.fetch(http_server.url("/feed.xml"), settings=settings, last_modified="Tue, 20 Oct 2015 07:28:00 GMT")
    assert not older.not_modified and older.content == FEED


# --- redirects --------------------------------------------------------------------------


def test_permanent_redirects_recorded(http_server: LocalServer, settings: Settings) -> None:
    http_server.redirect("/old", "/older-still", status=301)
    http_server.redirect("/older-still", "/feed.xml", status=308)
    http_server.route("/feed.xml", FEED)
    result = net.fetch(http_server.url("/old"), settings=settings)
    assert result.content == FEED
    assert result.url == http_server.url("/old")
    assert result.final_url == http_server.url("/feed.xml")
    assert result.moved_permanently_to == http_server.url("/feed.xml")


def test_temporary_redirect_not_recorded(http_server: LocalServer, settings: Settings) -> None:
    http_server.redirect("/old", "/feed.xml", status=302)
    http_server.route("/feed.xml", FEED)
    result = net.fetch(http_server.url("/old"), settings=settings)
    assert result.final_url == http_server.url("/feed.xml")
    assert result.moved_permanently_to is None


def test_permanent_only_up_to_first_temporary(http_server: LocalServer, settings: Settings) -> None:
    http_server.redirect("/a", "/b", status=301)
    http_server.redirect("/b", "/c", status=307)
    http_server.redirect("/c", "/d", status=301)
    http_server.route("/d", FEED)
    result = net.fetch(http_server.url("/a"), settings=settings)
    assert result.moved_permanently_to == http_server.url("/b")
    http_server.redirect("/t", "/a", status=302)
    assert net.fetch(http_server.url("/t"), settings=settings).moved_permanently_to is None


def test_redirect_loop(http_server: LocalServer, settings: Settings) -> None:
    http_server.redirect("/a", "/b")
    http_server.redirect("/b", "/a")
    with pytest.raises(DownloadError, match="redirect loop"):
        net.fetch(http_server.url("/a"), settings=settings)
    assert len(http_server.requests) == 2


def test_too_many_redirects(http_server: LocalServer, settings: Settings) -> None:
    for i in range(5):
        http_server.redirect(f"/r{i}", f"/r{i + 1}")
    http_server.route("/r5", FEED)
    with pytest.raises(DownloadError, match="too many redirects"):
        net.fetch(http_server.url("/r0"), settings=settings.with_(max_redirects=3))
    assert len(http_server.requests) == 4
    assert net.fetch(http_server.url("/r0"), settings=settings.with_(max_redirects=5)).content == FEED


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"), [(404, "HTTP 404 Not Found; check the address"), (500, "HTTP 500 Internal Server Error")]
)
def test_http_errors(http_server: LocalServer, settings: Settings, status: int, text: str) -> None:
    http_server.route("/feed.xml", b"<html>oops</html>", status=status, content_type="text/html")
    url = http_server.url("/feed.xml")
    with pytest.raises(DownloadError, match=text) as caught:
        net.fetch(url, settings=settings)
    message = str(caught.value)
    assert message.startswith(url) and "\n" not in message


def test_read_timeout(http_server: LocalServer, settings: Settings) -> None:
    http_server.route("/feed.xml", FEED, delay=5.0)
    with pytest.raises(DownloadError, match="read timeout"):
        net.fetch(http_server.url("/feed.xml"), settings=settings.with_(read_timeout=0.5))


def test_connection_refused(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on `port` now.
    with pytest.raises(DownloadError, match="connection failed"):
        net.fetch(f"http://127.0.0.1:{port}/feed.xml", settings=settings)


def test_feed_over_cap_by_content_length(http_server: LocalServer, settings: Settings) -> None:
    http_server.route("/feed.xml", b"x" * 5000, content_type="application/rss+xml")
    with pytest.raises(DownloadError, match="larger than the 1000 B cap"):
        net.fetch(http_server.url("/feed.xml"), settings=settings, max_bytes=1000)
    with pytest.raises(DownloadError, match="larger than the 1.0 KiB cap"):
        net.fetch(http_server.url("/feed.xml"), settings=settings.with_(max_feed_bytes=1024))


def test_feed_over_cap_while_streaming(http_server: LocalServer, settings: Settings) -> None:
    def unlimited(req) -> None:  # type: ignore[no-untyped-def]
        # No Content-Length: the body ends when the server hangs up.
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Connection", "close")
        req.end_headers()
        try:
            for _ in range(100):
                req.wfile.write(b"y" * 10_000)
        except OSError:
            pass

    http_server.route("/feed.xml", handler=unlimited)
    with pytest.raises(DownloadError, match="larger than"):
        net.fetch(http_server.url("/feed.xml"), settings=settings, max_bytes=50_000)
    assert len(net.fetch(http_server.url("/feed.xml"), settings=settings).content) == 1_000_000


def _certificate(tmp_path: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for `name` and a server context using it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@needs_openssl
def test_untrusted_certificate_is_a_tls_error(tmp_path: Path, settings: Settings) -> None:
    _, context = _certificate(tmp_path, "podcast.invalid")
    with LocalServer(ssl_context=context) as server:
        server.route("/feed.xml", FEED)
        url = server.url("/feed.xml", host="podcast.invalid")
        with pytest.raises(DownloadError, match="TLS error.*certificate verify failed"):
            net.fetch(url, settings=settings, resolver=resolver_to("127.0.0.1"))


@needs_openssl
def test_https_pinned_to_ip_verifies_the_host_name(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust the test certificate the way a user trusts a corporate CA.
    cert, context = _certificate(tmp_path, "podcast.invalid")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with LocalServer(ssl_context=context) as server:
        server.route("/feed.xml", FEED)
        good = net.fetch(server.url("/feed.xml", host="podcast.invalid"), settings=settings, resolver=resolver_to("127.0.0.1"))
        assert good.content == FEED
        assert server.requests[0].headers["host"] == f"podcast.invalid:{server.port}"
        # Same IP, other name: the certificate does not cover it.
        with pytest.raises(DownloadError, match="TLS error.*(mismatch|match)"):
            net.fetch(server.url("/feed.xml", host="other.invalid"), settings=settings, resolver=resolver_to("127.0.0.1"))


# --- read_local ------------------------------------------------------------------------------


def test_read_local(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    assert net.read_local(str(feed)) == FEED


def test_read_local_missing(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="no such file"):
        net.read_local(str(tmp_path / "nope.xml"))
    with pytest.raises(FeedError, match="not a regular file"):
        net.read_local(str(tmp_path))


def test_read_local_over_cap(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    with pytest.raises(FeedError, match="larger than"):
        net.read_local(str(feed), max_bytes=10)


def test_check_url_resolves_idna_name() -> None:
    calls: list[str] = []
    net.check_url("https://bücher.example/feed", allow_private=False, resolver=resolver_to("93.184.216.34", calls=calls))
    assert calls == ["xn--bcher-kva.example"]
