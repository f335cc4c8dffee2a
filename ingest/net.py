"""The network edge: an SSRF guard and a guarded HTTP client.

Every hop of every request is checked: the scheme must be http(s) and no
address the host resolves to may be private, loopback, link-local, ... (unless
Settings.allow_private). The connection is then pinned to the checked address
(the URL's host is swapped for the IP, with the Host header and TLS SNI/
certificate check still using the name), so a DNS answer that changes between
the check and the connect (DNS rebinding) cannot reach a blocked address.

Limits: proxies from the environment are ignored (trust_env=False) because a
proxy would resolve names itself and defeat the guard (SSL_CERT_FILE /
SSL_CERT_DIR are still honoured); keep-alive is off so a TLS connection
verified for one name is never reused for another name sharing the IP.

Deadlines: read_timeout bounds one read only, so a server dripping a byte every
few seconds could hold a request for hours. Every socket operation of a request
is therefore clamped to the remaining time of one `Deadline` for the whole
transfer (connect, TLS, headers, body, all redirect hops).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import certifi
import httpcore
import httpx

from podsearch.core.config import Settings
from podsearch.core.errors import BlockedAddressError, DownloadError, FeedError

Resolver = Callable[..., list[tuple[Any, ...]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 << 10
DEFAULT_MAX_FEED_BYTES: int = next(f.default for f in fields(Settings) if f.name == "max_feed_bytes")


# --- address guard ------------------------------------------------------------


def is_blocked_address(ip: str) -> bool:
    """True when `ip` is not a public unicast address a podcast host could have.

    Blocks loopback, private, link-local (incl. cloud metadata), CGNAT,
    unspecified, multicast, reserved, documentation ranges and IPv6 ULA; IPv4
    embedded in IPv6 (mapped, 6to4) is judged by its IPv4 address. Anything
    unparsable counts as blocked (fail closed).
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is not None:
            return is_blocked_address(str(embedded))
    return (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        # not is_global also covers CGNAT 100.64/10, which is not "private".
        or not addr.is_global
    )


def resolve_checked(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> list[str]:
    """The addresses `url`'s host resolves to, after the SSRF checks of check_url."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BlockedAddressError(f"{url}: not a valid URL ({exc}); check the address") from exc
    if parsed.scheme not in _DEFAULT_PORTS:
        raise BlockedAddressError(
            f"{url}: only http:// and https:// URLs may be fetched from the network; "
            "check the address in the feed"
        )
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS and TLS see it
    if not host:
        raise BlockedAddressError(f"{url}: URL has no host; check the address")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise DownloadError(f"{url}: cannot resolve host {host!r} ({exc}); check the address or your network") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DownloadError(f"{url}: host {host!r} has no addresses; check the address")
    if not allow_private:
        blocked = [a for a in addresses if is_blocked_address(a)]
        if blocked:
            raise BlockedAddressError(
                f"{url}: {host} resolves to non-public address {blocked[0]}; refusing to connect "
                "(pass --allow-private or set PODSEARCH_ALLOW_PRIVATE=1 to allow local servers)"
            )
    return addresses


def check_url(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> None:
    """Refuse (BlockedAddressError) non-http(s) URLs and hosts with any blocked address."""
    resolve_checked(url, allow_private=allow_private, resolver=resolver)


# --- whole-transfer deadline ---------------------------------------------------


class Deadline:
    """The wall-clock budget of one transfer: `seconds`, plus 1 s per `min_rate` bytes received.

    With `min_rate` the budget grows with the bytes that arrive, so a large
    enclosure on a fair link finishes while a trickle is cut off.
    """

    def __init__(self, seconds: float, min_rate: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.min_rate = min_rate
        self.clock = clock
        self.start = clock()
        self.received = 0
        self.expired = False

    def remaining(self) -> float:
        """Seconds left before the transfer must be finished."""
        allowed = self.seconds + (self.received / self.min_rate if self.min_rate else 0.0)
        return allowed - (self.clock() - self.start)

    def message(self) -> str:
        """Why the transfer was cut off, and which settings to raise."""
        if self.min_rate:
            return (f"too slow: not finished within the deadline ({self.seconds:g} s plus 1 s per "
                    f"{human_bytes(self.min_rate)} received; PODSEARCH_TRANSFER_DEADLINE, "
                    "PODSEARCH_MIN_DOWNLOAD_RATE); try again later")
        return (f"too slow: not finished within the {self.seconds:g} s deadline "
                "(PODSEARCH_TRANSFER_DEADLINE); try again later")

    def clamp(self, timeout: float | None) -> float:
        """`timeout` cut to the time left; raises httpcore.ReadTimeout once none is left."""
        left = self.remaining()
        if left <= 0:
            self.expired = True
            raise httpcore.ReadTimeout(self.message())
        return left if timeout is None else min(timeout, left)

    def timed_out(self, timeout: float | None, clamped: float) -> None:
        """After an operation timed out: raise the deadline's error if it was the deadline that ran out."""
        if timeout is None or clamped < timeout:
            self.expired = True
            raise httpcore.ReadTimeout(self.message())


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the transfer's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self.inner = inner
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        clamped = self.deadline.clamp(timeout)
        try:
            data = self.inner.read(max_bytes, clamped)
        except httpcore.TimeoutException:
            self.deadline.timed_out(timeout, clamped)
            raise
        self.deadline.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self.deadline.clamp(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, self.deadline.clamp(timeout)),
                               self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        clamped = self.deadline.clamp(timeout)
        try:
            stream = super().connect_tcp(host, port, clamped, local_address, socket_options)
        except httpcore.TimeoutException:
            self.deadline.timed_out(timeout, clamped)
            raise
        return _DeadlineStream(stream, self.deadline)


def _transport(deadline: Deadline, verify: ssl.SSLContext) -> httpx.HTTPTransport:
    """httpx's transport with its connection pool on a deadline-keeping network backend."""
    transport = httpx.HTTPTransport(verify=verify, trust_env=False)
    # httpx takes no network backend; its pool is rebuilt with the same settings plus ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=verify, max_keepalive_connections=0, network_backend=_DeadlineBackend(deadline)
    )
    return transport


# --- streaming primitive --------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """A response whose body is not read yet, after following redirects."""

    url: str
    final_url: str
    response: httpx.Response
    moved_permanently_to: str | None


@contextmanager
def open_url(
    url: str,
    *,
    settings: Settings,
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = socket.getaddrinfo,
    min_rate: int | None = None,
) -> Iterator[Opened]:
    """GET `url`, following redirects by hand with the SSRF check on every hop.

    Yields the first non-redirect response with its body unread (any status:
    callers decide what 304/206/416/4xx mean). httpx errors raised while the
    caller reads the body become DownloadError. The whole transfer must end
    within settings.transfer_deadline (plus 1 s per `min_rate` bytes received).
    """
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    deadline = Deadline(settings.transfer_deadline, min_rate)
    verify = _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        transport=_transport(deadline, verify),
        headers={"User-Agent": settings.user_agent},
    ) as client:
        current = url
        seen: set[str] = set()
        moved: str | None = None
        all_permanent = True
        redirects = 0
        while True:
            try:
                addresses = resolve_checked(current, allow_private=settings.allow_private, resolver=resolver)
            except BlockedAddressError as exc:
                if current == url:
                    raise
                # The user knows the address they added, not where it led: name both.
                raise BlockedAddressError(f"{url} redirected to a refused address: {exc}") from exc
            seen.add(str(httpx.URL(current)))  # normalised, to compare with Location targets
            response = _send_pinned(client, current, addresses, headers or {}, settings, deadline)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                break
            response.close()
            try:
                target = str(httpx.URL(current).join(location.strip()).copy_with(fragment=None))
            except (httpx.InvalidURL, ValueError) as exc:
                raise DownloadError(f"{current}: invalid redirect to {location!r}; check the address") from exc
            if target in seen:
                raise DownloadError(f"{url}: redirect loop at {target}; the server is misconfigured, try again later")
            redirects += 1
            if redirects > settings.max_redirects:
                raise DownloadError(
                    f"{url}: too many redirects (more than {settings.max_redirects}); "
                    "the server is misconfigured, try again later"
                )
            all_permanent = all_permanent and response.status_code in _PERMANENT
            if all_permanent:
                moved = target
            current = target
        try:
            yield Opened(url=url, final_url=current, response=response, moved_permanently_to=moved)
        except httpx.HTTPError as exc:
            raise _as_download_error(current, exc, settings, deadline) from exc
        finally:
            response.close()


def post_json(url: str, body: bytes, *, settings: Settings, seconds: float | None = None,
              resolver: Resolver = socket.getaddrinfo) -> int:
    """POST the JSON `body` to `url` (a webhook) through the SSRF guard; returns the HTTP status.

    The connection is pinned to the checked address like a GET's; redirects are not followed (a 3xx is
    the answer). The whole exchange ends within `seconds` (at most settings.transfer_deadline).
    Raises BlockedAddressError for refused addresses, DownloadError for transport failures and deadlines.
    """
    deadline = Deadline(min(seconds, settings.transfer_deadline) if seconds is not None else settings.transfer_deadline)
    verify = _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    addresses = resolve_checked(url, allow_private=settings.allow_private, resolver=resolver)
    with httpx.Client(timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
                      follow_redirects=False, trust_env=False, transport=_transport(deadline, verify),
                      headers={"User-Agent": settings.user_agent}) as client:
        response = _send_pinned(client, url, addresses, {"Content-Type": "application/json"}, settings, deadline,
                                method="POST", content=body)
        try:
            _read_capped(Opened(url, url, response, None), 64 << 10)  # the answer is not used; a little is read
        except DownloadError:
            pass  # a large or broken answer body does not undo a delivery the status confirms
        except httpx.HTTPError as exc:
            raise _as_download_error(url, exc, settings, deadline) from exc
        finally:
            response.close()
    return response.status_code


def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """Verifying TLS context: the CA bundle the environment names, else certifi's.

    Made per transfer, as httpx makes its own (~10 ms of CA parsing beside a network round trip), so the
    process keeps no module-level cache and a changed SSL_CERT_FILE applies to the next transfer.
    """
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    return ssl.create_default_context(cafile=certifi.where())


def _send_pinned(
    client: httpx.Client,
    url: str,
    addresses: list[str],
    headers: Mapping[str, str],
    settings: Settings,
    deadline: Deadline,
    method: str = "GET",
    content: bytes | None = None,
) -> httpx.Response:
    """Send the request (a GET unless `method`) to the checked addresses in turn (never re-resolving the name)."""
    target = httpx.URL(url)
    host_header = target.netloc.decode("ascii")
    extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
    error: httpx.HTTPError | None = None
    for address in addresses:
        request = client.build_request(
            method,
            target.copy_with(host=address.split("%", 1)[0]),
            headers={**headers, "Host": host_header},
            extensions=extensions,
            content=content,
        )
        try:
            return client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Another address of the same host may still answer.
            error = exc
        except httpx.HTTPError as exc:
            raise _as_download_error(url, exc, settings, deadline) from exc
    assert error is not None
    raise _as_download_error(url, error, settings, deadline) from error


def _as_download_error(url: str, exc: httpx.HTTPError, settings: Settings, deadline: Deadline) -> DownloadError:
    """One clear line for a transport failure."""
    if deadline.expired:
        return DownloadError(f"{url}: {deadline.message()}")
    if isinstance(exc, httpx.ConnectTimeout):
        return DownloadError(f"{url}: could not connect within {settings.connect_timeout:g} s; try again later")
    if isinstance(exc, httpx.TimeoutException):
        return DownloadError(
            f"{url}: server sent nothing for {settings.read_timeout:g} s (read timeout); try again later"
        )
    if _is_tls_error(exc):
        return DownloadError(
            f"{url}: TLS error ({one_line(exc)}); the server's certificate could not be verified"
        )
    if isinstance(exc, httpx.ConnectError):
        return DownloadError(f"{url}: connection failed ({one_line(exc)}); check the address or try again later")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return DownloadError(f"{url}: connection dropped ({one_line(exc)}); try again later")
    return DownloadError(f"{url}: request failed ({one_line(exc)}); try again later")


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def one_line(exc: BaseException) -> str:
    """An exception's message squeezed onto one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def raise_for_status(opened: Opened) -> None:
    """DownloadError with a remedy for a 4xx/5xx (or stray 3xx) response."""
    status = opened.response.status_code
    if status < 300 or status == 304:
        return
    reason = opened.response.reason_phrase or ""
    where = opened.url if opened.final_url == opened.url else f"{opened.url} (via {opened.final_url})"
    if status in (401, 403):
        hint = "access denied; the feed or file may be private"
    elif status in (404, 410):
        hint = "check the address or remove the feed"
    elif status == 429 or status >= 500:
        hint = "the server is failing or busy; try again later"
    else:
        hint = "check the address"
    raise DownloadError(f"{where}: HTTP {status} {reason}; {hint}".replace(" ;", ";"))


def human_bytes(n: int) -> str:
    """1073741824 -> '1.0 GiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def content_length(response: httpx.Response) -> int | None:
    """The declared body length, or None when absent or garbled."""
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --- fetch ---------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """A fetched body (or a 304) and what the caller must remember for next time."""

    url: str
    final_url: str
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    not_modified: bool
    moved_permanently_to: str | None


def fetch(
    url: str,
    *,
    settings: Settings,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> FetchResult:
    """GET a (small) document such as a feed with a conditional GET and a size cap.

    Raises BlockedAddressError for refused addresses and DownloadError for
    HTTP errors, timeouts, connection/DNS/TLS failures, redirect loops and
    bodies over `max_bytes` (default settings.max_feed_bytes).
    """
    cap = settings.max_feed_bytes if max_bytes is None else max_bytes
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with open_url(url, settings=settings, headers=headers, resolver=resolver) as opened:
        response = opened.response
        not_modified = response.status_code == 304
        raise_for_status(opened)
        content = b"" if not_modified else _read_capped(opened, cap)
    return FetchResult(
        url=url,
        final_url=opened.final_url,
        status=response.status_code,
        content=content,
        # A 304 may omit validators; the caller's still hold then.
        etag=response.headers.get("etag") or (etag if not_modified else None),
        last_modified=response.headers.get("last-modified") or (last_modified if not_modified else None),
        content_type=response.headers.get("content-type"),
        not_modified=not_modified,
        moved_permanently_to=opened.moved_permanently_to,
    )


def _read_capped(opened: Opened, cap: int) -> bytes:
    declared = content_length(opened.response)
    if declared is not None and declared > cap:
        raise _too_big(opened.url, cap)
    body = bytearray()
    # Decoded bytes are counted, so a gzip bomb stops at the cap too.
    for chunk in opened.response.iter_bytes(_CHUNK):
        body += chunk
        if len(body) > cap:
            raise _too_big(opened.url, cap)
    return bytes(body)


def _too_big(url: str, cap: int) -> DownloadError:
    return DownloadError(
        f"{url}: response is larger than the {human_bytes(cap)} cap (max_feed_bytes); check that the URL is a feed"
    )


def read_local(path: str, *, max_bytes: int | None = None) -> bytes:
    """The bytes of a local feed file the user named, under the feed size cap."""
    cap = DEFAULT_MAX_FEED_BYTES if max_bytes is None else max_bytes
    file = Path(path).expanduser()
    if not file.exists():
        raise FeedError(f"{path}: no such file; check the path")
    if not file.is_file():
        raise FeedError(f"{path}: not a regular file; give the path of a feed XML file")
    try:
        with file.open("rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        raise FeedError(f"{path}: cannot read ({exc.strerror or exc}); check the file's permissions") from exc
    if len(data) > cap:
        raise FeedError(f"{path}: file is larger than the {human_bytes(cap)} feed cap; check that it is a feed")
    return data
