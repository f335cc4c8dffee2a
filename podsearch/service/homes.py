"""Whether a home exists and holds anything, asked before a read command opens (and so creates) it.

A mistyped `--home` or PODSEARCH_HOME must not become a new empty home whose searches find "nothing
relevant": the user would conclude the library has nothing on the topic.
"""

from __future__ import annotations

from podsearch.core.config import Settings
from podsearch.core.errors import HomeMissingError

# What every surface says instead of "nothing relevant found" when there is nothing to search.
NO_EPISODES = "no episodes yet: podsearch add URL"
NOT_INDEXED = "no episodes indexed yet: run podsearch ingest"


def require_home(settings: Settings) -> None:
    """Raise HomeMissingError (one line naming the path) unless the home's directory exists."""
    home = settings.home
    if not home.is_dir():
        raise HomeMissingError(f"no podsearch home at {home} (it does not exist); check --home / PODSEARCH_HOME, "
                               f"or start one there with `podsearch --home {home} add URL`")


def has_catalog(settings: Settings) -> bool:
    """True once something was added to the home (its catalog database exists)."""
    return settings.library_db.is_file()


def has_index(settings: Settings) -> bool:
    """True once the home's search index exists (opening it before would create it)."""
    return (settings.index_dir / "index.sqlite").is_file()


def empty_reason(settings: Settings, passages: int | None = None) -> str | None:
    """Why a search of this home can find nothing at all, or None when it holds passages.

    `passages` is the open index's count (None: the index was not opened because it does not exist).
    """
    if passages:
        return None
    return NOT_INDEXED if has_catalog(settings) and _has_feeds(settings) else NO_EPISODES


def _has_feeds(settings: Settings) -> bool:
    import sqlite3

    # Read-only: asking must not create or migrate anything.
    db = sqlite3.connect(f"{settings.library_db.as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT 1 FROM feeds LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        db.close()


__all__ = ["NOT_INDEXED", "NO_EPISODES", "empty_reason", "has_catalog", "has_index", "require_home"]
