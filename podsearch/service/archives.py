"""Reading a feed completely: the older pages of paged and archived feeds (RFC 5005).

A feed may hold only its newest episodes and link to the rest (`atom:link rel="next"`
for paged feeds, `rel="prev-archive"` for archived ones). Pages are followed up to
`Settings.max_feed_pages`, each URL once (so a loop of pages ends), each with its own
conditional GET, and no further than a subscription's `--since` / `--max-episodes` need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Episode, FeedPage
from podsearch.service.library import FeedRow, Library

# (url, etag, last_modified) -> (bytes or None when not modified, etag, last_modified)
PageFetcher = Callable[[str, str | None, str | None], tuple[bytes | None, str | None, str | None]]


@dataclass
class ArchiveRead:
    """What paging found beyond the first document."""

    episodes: list[Episode] = field(default_factory=list)
    pages: int = 1  # documents read or revalidated, the first included
    capped: bool = False  # stopped at max_feed_pages with pages left
    errors: list[str] = field(default_factory=list)  # archive pages that could not be read


def page_fetcher(settings: Settings, local: bool) -> PageFetcher:
    """Fetch archive pages: over http(s) with the SSRF guard, or from disk for a local feed file."""
    from podsearch.ingest import net

    def fetch(url: str, etag: str | None, last_modified: str | None) -> tuple[bytes | None, str | None, str | None]:
        parts = urlsplit(url)
        if parts.scheme == "file":
            if not local:  # a remote feed never makes us read this machine's files
                raise PodsearchError(f"archive page {url} is a local file named by a remote feed; skipped")
            return net.read_local(unquote(parts.path), max_bytes=settings.max_feed_bytes), None, None
        result = net.fetch(url, settings=settings, etag=etag, last_modified=last_modified)
        return (None if result.not_modified else result.content), result.etag, result.last_modified

    return fetch


def _key(url: str) -> str:
    # The same page is often linked with and without a trailing slash or fragment.
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}?{parts.query}"


def _enough(episodes: list[Episode], page: tuple[Episode, ...], since: str | None, limit: int | None) -> bool:
    """True when older pages cannot add an episode the subscription wants."""
    if limit and len(episodes) >= limit:
        return True
    dated = [e.published for e in page if e.published]
    # Pages run newest to oldest: once a whole page is before --since, so is everything older.
    return bool(since and dated and max(dated)[:10] < since[:10])


def read_archives(library: Library | None, feed: FeedRow | None, first_url: str, first: FeedPage, fetch: PageFetcher,
                  max_pages: int) -> ArchiveRead:
    """Every episode of the first page and the older pages it leads to, each guid once, newest page first.

    With a `library` and a subscription `feed`, pages are fetched conditionally and the
    subscription's --since/--max-episodes end the paging; without, every page is read.
    """
    since, limit = (feed.since, feed.max_episodes) if feed is not None else (None, None)
    from podsearch.ingest.feeds import parse_feed_page

    read = ArchiveRead(episodes=list(first.episodes))
    seen = {e.guid for e in first.episodes}
    visited = {_key(first_url)}
    queue = list(first.older)
    if _enough(read.episodes, first.episodes, since, limit):
        return read
    while queue:
        url = queue.pop(0)
        if _key(url) in visited:
            continue  # a loop of pages: each is read once
        if read.pages >= max_pages:
            read.capped = True
            break
        visited.add(_key(url))
        read.pages += 1
        known = library.feed_page(feed.id, url) if library is not None and feed is not None else None
        try:
            data, etag, last_modified = fetch(url, known.etag if known else None,
                                              known.last_modified if known else None)
            if data is None:
                # Unchanged since last time: its episodes are stored; the pages beyond it may not be.
                queue.extend(known.older if known else ())
                continue
            page = parse_feed_page(data, url)
        except PodsearchError as exc:
            # An archive page that fails does not fail the feed: what was read so far stands.
            read.errors.append(str(exc))
            continue
        if library is not None and feed is not None:
            library.record_feed_page(feed.id, url, etag, last_modified, page.older)
        fresh = [e for e in page.episodes if e.guid not in seen]
        seen.update(e.guid for e in fresh)
        read.episodes.extend(fresh)
        if _enough(read.episodes, page.episodes, since, limit):
            break
        queue.extend(page.older)
    return read


__all__ = ["ArchiveRead", "PageFetcher", "page_fetcher", "read_archives"]
