"""What podsearch reads from a feed, without subscribing to it (`podsearch feed-info`)."""

from __future__ import annotations

from typing import Any

from podsearch.core.config import Settings
from podsearch.core.errors import FeedError, PodsearchError
from podsearch.core.records import to_dict


def feed_info(settings: Settings, source: str) -> dict[str, Any]:
    """The parse of one feed URL or file, pages and moves followed: {"source", "url", "show", "episodes", "pages"}.

    Raises PodsearchError (one line) for a feed that cannot be read; the home is not touched.
    """
    from podsearch.ingest import net
    from podsearch.ingest.feeds import parse_feed_page
    from podsearch.service.archives import page_fetcher, read_archives
    from podsearch.service.moves import follow_moves, same_url
    from podsearch.service.subscriptions import is_local_source, local_path

    local = is_local_source(source)
    if local:
        url = str(local_path(source))
        data = net.read_local(url, max_bytes=settings.max_feed_bytes)
    else:
        url = source
        data = net.fetch(source, settings=settings).content
    url, page = follow_moves(settings, url, parse_feed_page(data, url))
    archive = read_archives(None, None, url, page, page_fetcher(settings, local and same_url(url, source)),
                            settings.max_feed_pages)
    return {
        "source": source,
        "url": url,
        "show": to_dict(page.show),
        "episodes": [to_dict(e) for e in archive.episodes],
        "pages": archive.pages,
        "page_errors": archive.errors,
    }


def feed_info_or_error(settings: Settings, source: str) -> dict[str, Any]:
    """`feed_info`, or {"source", "error"} with the one-line reason when the feed cannot be read."""
    try:
        return feed_info(settings, source)
    except PodsearchError as exc:
        return {"source": source, "error": str(exc)}
    except (OSError, ValueError) as exc:  # anything else the bytes provoke is still this feed's fault
        return {"source": source, "error": str(FeedError(f"{source}: cannot be read ({type(exc).__name__}: {exc})"))}


__all__ = ["feed_info", "feed_info_or_error"]
