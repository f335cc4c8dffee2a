"""Subscriptions: adding a feed, and refreshing feeds into the catalog (moves, pages, archives).

A feed is read completely (every page and archive), its episodes filtered by the subscription's
`since` and `max_episodes`, and new or changed episodes stored in the catalog for the ingest run.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import unquote, urlparse

from podsearch.core.config import Settings
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Episode, Show
from podsearch.service.home import Home
from podsearch.service.library import FeedRow, Library
from podsearch.service.progress import Progress, ProgressFn, Stage


def is_local_source(target: str) -> bool:
    """True for a path (or file:// URL) the user typed, which may be read from disk."""
    scheme = urlparse(target).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def local_path(target: str) -> Path:
    """The absolute path of a local feed argument."""
    parsed = urlparse(target)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else target).expanduser().resolve()


def _fetch_feed(settings: Settings, feed: FeedRow):  # noqa: ANN202 - (bytes|None, FetchResult|None)
    from podsearch.ingest import net

    if feed.local:
        return net.read_local(feed.url, max_bytes=settings.max_feed_bytes), None
    result = net.fetch(feed.url, settings=settings, etag=feed.etag, last_modified=feed.last_modified)
    return (None if result.not_modified else result.content), result


def select_episodes(episodes: list[Episode], since: str | None, max_episodes: int | None) -> list[Episode]:
    """Apply a subscription's filters: published on/after `since`, newest `max_episodes`."""
    chosen = [e for e in episodes if not since or (e.published or "")[:10] >= since[:10]]
    chosen.sort(key=lambda e: e.published or "", reverse=True)
    return chosen[:max_episodes] if max_episodes else chosen


def refresh_feed(settings: Settings, library: Library, feed: FeedRow,
                 fetched: Future | None = None) -> tuple[Show | None, list[Episode]]:
    """Fetch (or take the `fetched` future of `_fetch_feed`) and parse one feed completely (moves, pages,
    archives), store new/changed episodes; (show, changed)."""
    from podsearch.ingest.feeds import parse_feed_page
    from podsearch.service.archives import page_fetcher, read_archives
    from podsearch.service.moves import follow_moves, same_url

    try:
        data, result = fetched.result() if fetched is not None else _fetch_feed(settings, feed)
        if data is None:
            library.record_not_modified(feed.id)
            return feed.show, []
        url = result.moved_permanently_to if result is not None and result.moved_permanently_to else feed.url
        url, page = follow_moves(settings, url, parse_feed_page(data, feed.url))
        local = feed.local and same_url(url, feed.url)
        archive = read_archives(library, feed, url, page, page_fetcher(settings, local), settings.max_feed_pages)
    except PodsearchError as exc:
        library.record_feed_error(feed.id, str(exc))
        raise
    show = page.show
    moved = not same_url(url, feed.url)
    if moved and not library.move_feed(feed.id, url):
        # The new address is subscribed already: its episodes are stored there, not twice.
        library.record_feed_error(feed.id, f"feed {feed.url} moved to {url}, which you already follow; "
                                           f"remove this subscription")
        return show, []
    # Validators belong to the address fetched; after an itunes:new-feed-url move the next refresh starts afresh.
    fresh = result is not None and not (moved and not result.moved_permanently_to)
    library.record_refresh(feed.id, show, result.etag if fresh else None, result.last_modified if fresh else None)
    if show.block:
        return show, []
    return show, library.upsert_episodes(feed.id, select_episodes(archive.episodes, feed.since, feed.max_episodes))


def add_feed(settings: Settings, target: str, *, since: str | None = None, limit: int | None = None,
             listed_in: str | None = None) -> tuple[Show, int]:
    """Subscribe to a feed URL or local path and read it once; (show, episode count).

    `listed_in` names the document (an OPML file) the target came from: only a path the user
    typed is trusted to read local files, so a listed feed must be http(s). A show already followed
    at another address (same `podcast:guid`) keeps its one subscription, moved to this address, so
    its episodes are not stored twice.
    """
    if listed_in is not None and urlparse(target).scheme.lower() not in ("http", "https"):
        raise PodsearchError(f"{target}: feeds listed in {listed_in} must be http(s) URLs; to add a local feed "
                             "file, name it yourself: podsearch add PATH")
    local = is_local_source(target)
    url = str(local_path(target)) if local else target
    if local and not Path(url).is_file():
        raise PodsearchError(f"{target}: no such feed file; give an http(s) URL or the path of an RSS/Atom file")
    with Home(settings).catalog() as library:
        existed = library.feed_by_url(url) is not None
        feed = library.add_feed(url, local=local, since=since, max_episodes=limit)
        try:
            show, _ = refresh_feed(settings, library, feed)
            twin = library.feed_by_podcast_guid(show.podcast_guid, other_than=feed.id) \
                if show.podcast_guid and not existed else None
            if twin is not None:
                # This subscription's address now (a move may have changed it while refreshing).
                address = next(f.url for f in library.feeds() if f.id == feed.id)
                library.remove_feed(feed.id)
                library.move_feed(twin.id, address)
                feed = library.feed_by_url(address) or twin
                show, _ = refresh_feed(settings, library, feed)
        except BaseException:
            # Whatever went wrong (even a bug or Ctrl-C), no half-made subscription is left behind.
            if not existed:
                library.remove_feed(feed.id)
            raise
        count = len(library.episodes(feed_id=feed.id))
        return show, count


def refresh_feeds(settings: Settings, library: Library, feeds: list[FeedRow],
                  emit: ProgressFn) -> list[tuple[str, str]]:
    """Refresh `feeds`, fetching settings.feed_workers at once so one slow feed holds up no other;
    returns (url, one line) of each feed that failed (the others were refreshed).

    Only the fetches run in threads; the catalog is written here, one feed at a time.
    """
    errors: list[tuple[str, str]] = []
    if not feeds:
        return errors
    with ThreadPoolExecutor(max_workers=min(settings.feed_workers, len(feeds)),
                            thread_name_prefix="podsearch-feed") as pool:
        futures: dict[Future, FeedRow] = {}
        for feed in feeds:
            emit(Progress(Stage.FEED, feed.title or feed.url))
            futures[pool.submit(_fetch_feed, settings, feed)] = feed
        for fetched in as_completed(futures):
            feed = futures[fetched]
            try:
                refresh_feed(settings, library, feed, fetched)
            except Exception as exc:  # noqa: BLE001 - one bad feed never stops the others
                message = str(exc) if isinstance(exc, PodsearchError) else \
                    f"feed {feed.url} could not be refreshed ({type(exc).__name__}: {exc}); the other feeds went on"
                if not isinstance(exc, PodsearchError):
                    library.record_feed_error(feed.id, message)
                errors.append((feed.url, message))
                emit(Progress(Stage.FEED_FAILED, feed.title or feed.url, message=message))
    return errors
