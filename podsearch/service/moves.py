"""Following a show to its new address (`itunes:new-feed-url`), once, never in circles.

`podcast:guid` names a show wherever it lives: a move to a document that names another
show is refused, and subscribing to a show already subscribed at its old address reuses
that subscription, so no episode is stored twice.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from podsearch.core.config import Settings
from podsearch.core.errors import FeedError
from podsearch.core.records import FeedPage


def same_url(a: str, b: str) -> bool:
    """Whether two feed addresses name the same document (scheme/host case, trailing slash aside)."""
    def key(url: str) -> str:
        parts = urlsplit(url.strip())
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}?{parts.query}"

    return key(a) == key(b)


def follow_moves(settings: Settings, url: str, page: FeedPage) -> tuple[str, FeedPage]:
    """The feed's current address and first page after following `itunes:new-feed-url` hops.

    Raises FeedError for a loop of moves, too many hops, or a move to another show.
    """
    from podsearch.ingest import net
    from podsearch.ingest.feeds import parse_feed_page

    chain = [url]
    while page.show.new_feed_url and not same_url(page.show.new_feed_url, chain[-1]):
        target = page.show.new_feed_url
        if any(same_url(target, seen) for seen in chain):
            hops = " -> ".join([*chain, target])
            raise FeedError(f"feed {url} moves in a loop ({hops}); ask the publisher to fix itunes:new-feed-url")
        if len(chain) > settings.max_feed_moves:
            raise FeedError(f"feed {url} moved more than {settings.max_feed_moves} times; subscribe to {target}")
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            raise FeedError(f"feed {chain[-1]} says it moved to {target}, which is not an http(s) URL; not following")
        moved = parse_feed_page(net.fetch(target, settings=settings).content, target)
        old_guid, new_guid = page.show.podcast_guid, moved.show.podcast_guid
        if old_guid and new_guid and old_guid != new_guid:
            raise FeedError(f"feed {chain[-1]} says it moved to {target}, but that is another show "
                            f"(podcast:guid {new_guid}, not {old_guid}); not following")
        chain.append(target)
        page = moved
    return chain[-1], page


__all__ = ["follow_moves", "same_url"]
