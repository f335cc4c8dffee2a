"""The catalog of one home (SQLite): feeds, episodes with their status, collections.

Each write is one transaction, so an interrupted ingest leaves every row as
it was before or after a step, never in between.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from podsearch.core.migrations import Migrations, open_database
from podsearch.core.records import Episode, Show, episode_from_dict, episode_key, show_from_dict, to_dict

# The catalog's schema history. Never edit a step that has shipped: add the next one.
MIGRATIONS = Migrations("catalog")
MIGRATIONS.sql("m001_initial", """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    local INTEGER NOT NULL DEFAULT 0,
    title TEXT,
    link TEXT,
    image TEXT,
    description TEXT,
    show TEXT NOT NULL DEFAULT '{}',
    etag TEXT,
    last_modified TEXT,
    since TEXT,
    max_episodes INTEGER,
    status TEXT NOT NULL DEFAULT 'new',
    error TEXT,
    added_at TEXT NOT NULL,
    refreshed_at TEXT
);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT,
    audio_url TEXT NOT NULL,
    record TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    error TEXT,
    source TEXT,
    transcript_path TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (feed_id, guid)
);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_items (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    hit TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
""")
# Names a user gave an episode's speakers ("Speaker 2" -> "Ward manager"); they outlive re-indexing and
# re-diarizing because they are applied whenever the episode's transcript is made again.
MIGRATIONS.sql("m002_speaker_names", """
CREATE TABLE speaker_names (
    episode_id INTEGER NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (episode_id, label)
);
""")


@MIGRATIONS
def m003_episode_keys(db: sqlite3.Connection) -> None:
    """Give every episode its feed-scoped key (two shows may share a guid), and saved clips theirs."""
    db.execute("ALTER TABLE episodes ADD COLUMN key TEXT")
    rows = db.execute("SELECT e.id, e.guid, f.url FROM episodes e JOIN feeds f ON f.id = e.feed_id").fetchall()
    for episode_id, guid, feed_url in rows:
        db.execute("UPDATE episodes SET key = ? WHERE id = ?", (episode_key(feed_url, guid), episode_id))
    db.execute("CREATE UNIQUE INDEX episodes_key ON episodes(key)")
    # A saved clip names its show and guid: together they find its episode's key.
    for item_id, hit_json in db.execute("SELECT id, hit FROM collection_items").fetchall():
        hit = json.loads(hit_json)
        keys = [r[0] for r in db.execute(
            "SELECT e.key FROM episodes e JOIN feeds f ON f.id = e.feed_id WHERE e.guid = ? AND COALESCE(f.title, f.url) = ?",
            (hit.get("guid"), hit.get("show")))]
        if not hit.get("key") and len(keys) == 1:
            db.execute("UPDATE collection_items SET hit = ? WHERE id = ?",
                       (json.dumps({**hit, "key": keys[0]}, sort_keys=True), item_id))


# Cache validators and older-page links of each archive page of a paged feed (RFC 5005), so a
# refresh asks each page conditionally and still finds the pages beyond one that did not change.
MIGRATIONS.sql("m004_feed_pages", """
CREATE TABLE IF NOT EXISTS feed_pages (
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    older TEXT NOT NULL DEFAULT '[]',
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (feed_id, url)
);
""")



@MIGRATIONS
def m005_relative_transcript_paths(db: sqlite3.Connection) -> None:
    """Keep transcript paths relative to the home's transcripts folder, so a home that is moved,
    copied or restored from a backup still finds its transcripts.

    Every transcript is saved as <transcripts>/<show>/<file>, so an absolute path's last two
    parts are its place in any copy of the home.
    """
    for episode_id, stored in db.execute("SELECT id, transcript_path FROM episodes WHERE transcript_path IS NOT NULL").fetchall():
        path = Path(stored)
        if path.is_absolute():
            db.execute("UPDATE episodes SET transcript_path = ? WHERE id = ?",
                       (f"{path.parent.name}/{path.name}", episode_id))


# Saved searches that alert (podsearch.service.watches). An episode that becomes indexed is queued in
# watch_pending by a trigger, so the check at the end of an ingest looks at the new episodes only (its cost
# does not grow with the library), and an ingest interrupted before its check leaves them queued for the
# next one. watch_checked remembers which episodes each watch has looked at, so no clip is reported twice
# (an episode downloaded again, a restart); each entry's webhook delivery is kept until it succeeds.
MIGRATIONS.sql("m006_watches", """
CREATE TABLE watches (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    query TEXT NOT NULL,
    show TEXT,
    speaker TEXT,
    min_confidence TEXT NOT NULL DEFAULT 'partial',
    webhook TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE watch_entries (
    id INTEGER PRIMARY KEY,
    watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    clip TEXT NOT NULL,
    hit TEXT NOT NULL,
    found_at TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    UNIQUE (watch_id, clip)
);
CREATE TABLE watch_checked (
    watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    PRIMARY KEY (watch_id, key)
);
CREATE TABLE watch_deliveries (
    entry_id INTEGER PRIMARY KEY REFERENCES watch_entries(id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    tried_at TEXT,
    delivered_at TEXT
);
CREATE TABLE watch_pending (
    key TEXT PRIMARY KEY,
    indexed_at TEXT NOT NULL
);
CREATE TRIGGER watch_queue_indexed AFTER UPDATE OF status ON episodes
WHEN NEW.status = 'indexed' AND OLD.status != 'indexed' AND NEW.key IS NOT NULL
BEGIN
    INSERT OR REPLACE INTO watch_pending(key, indexed_at) VALUES (NEW.key, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'));
END;
""")


# Episode status values, in pipeline order.
NEW, DOWNLOADED, TRANSCRIBED, INDEXED, FAILED, SKIPPED = "new", "downloaded", "transcribed", "indexed", "failed", "skipped"
# Not indexed because no installed model transcribes its language (the error says which and what to
# install); the next `ingest` tries again.
HELD = "held"


def now() -> str:
    """The current UTC time as ISO 8601."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class FeedRow:
    """A subscription and its refresh state."""

    id: int
    url: str
    local: bool
    title: str | None
    etag: str | None
    last_modified: str | None
    since: str | None
    max_episodes: int | None
    status: str
    error: str | None
    show: Show | None
    refreshed_at: str | None


@dataclass(frozen=True)
class FeedPageRow:
    """An archive page of a paged feed as last fetched."""

    url: str
    etag: str | None
    last_modified: str | None
    older: tuple[str, ...]


@dataclass(frozen=True)
class EpisodeRow:
    """An episode with its progress through the pipeline."""

    id: int
    feed_id: int
    episode: Episode
    status: str
    error: str | None
    source: str | None
    transcript_path: str | None
    show_title: str


def _show_from_json(text: str) -> Show | None:
    data = json.loads(text or "{}")
    return show_from_dict(data) if data else None


def episode_from_json(text: str) -> Episode:
    """An Episode record stored by `Library.upsert_episodes`."""
    return episode_from_dict(json.loads(text))


class Library:
    """Feeds, episodes and collections of one home."""

    def __init__(self, path: Path, transcripts_dir: Path | None = None) -> None:
        """Open (creating and migrating) the catalog at `path`. Transcript paths inside
        `transcripts_dir` are stored relative to it and handed out absolute."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = open_database(str(path), MIGRATIONS, check_same_thread=False, timeout=30)
        self._lock = threading.RLock()
        self.transcripts_dir = transcripts_dir.resolve() if transcripts_dir is not None else None

    def _stored_path(self, path: str | None) -> str | None:
        """How the catalog keeps a transcript path: relative to the transcripts folder when inside it."""
        if path is None or self.transcripts_dir is None:
            return path
        absolute = Path(path).resolve()
        return absolute.relative_to(self.transcripts_dir).as_posix() if absolute.is_relative_to(self.transcripts_dir) else path

    def _full_path(self, stored: str | None) -> str | None:
        if stored is None or self.transcripts_dir is None or Path(stored).is_absolute():
            return stored
        return str(self.transcripts_dir / stored)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- feeds --------------------------------------------------------------
    def add_feed(self, url: str, *, local: bool, since: str | None = None, max_episodes: int | None = None) -> FeedRow:
        """Subscribe to `url` (idempotent: an existing subscription is returned)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO feeds(url, local, since, max_episodes, added_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT(url) DO UPDATE SET since = COALESCE(excluded.since, since),"
                " max_episodes = COALESCE(excluded.max_episodes, max_episodes)",
                (url, int(local), since, max_episodes, now()),
            )
        feed = self.feed_by_url(url)
        assert feed is not None
        return feed

    def feed_by_url(self, url: str) -> FeedRow | None:
        """The subscription for `url`, if any."""
        row = self._db.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
        return None if row is None else self._feed(row)

    def feeds(self) -> list[FeedRow]:
        """Every subscription, oldest first."""
        return [self._feed(r) for r in self._db.execute("SELECT * FROM feeds ORDER BY id")]

    def remove_feed(self, feed_id: int) -> None:
        """Unsubscribe (episodes go too; transcripts on disk stay)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))

    @staticmethod
    def _feed(row: sqlite3.Row) -> FeedRow:
        return FeedRow(
            id=row["id"], url=row["url"], local=bool(row["local"]), title=row["title"], etag=row["etag"],
            last_modified=row["last_modified"], since=row["since"], max_episodes=row["max_episodes"],
            status=row["status"], error=row["error"], show=_show_from_json(row["show"]),
            refreshed_at=row["refreshed_at"],
        )

    def record_refresh(self, feed_id: int, show: Show, etag: str | None, last_modified: str | None) -> None:
        """Store a successful refresh: the show's metadata and cache validators."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE feeds SET title=?, link=?, image=?, description=?, show=?, etag=?, last_modified=?,"
                " status='ok', error=NULL, refreshed_at=? WHERE id=?",
                (show.title, show.link, show.image, show.description, json.dumps(to_dict(show)), etag,
                 last_modified, now(), feed_id),
            )

    def record_not_modified(self, feed_id: int) -> None:
        """A 304: nothing changed since the last refresh."""
        with self._lock, self._db:
            self._db.execute("UPDATE feeds SET status='ok', error=NULL, refreshed_at=? WHERE id=?", (now(), feed_id))

    def record_feed_error(self, feed_id: int, message: str) -> None:
        """Remember why a feed failed; its episodes stay as they were."""
        with self._lock, self._db:
            self._db.execute("UPDATE feeds SET status='failed', error=? WHERE id=?", (message, feed_id))

    def move_feed(self, feed_id: int, new_url: str) -> bool:
        """Record a new address of a subscription; False when another subscription already has it."""
        with self._lock, self._db:
            clash = self._db.execute("SELECT id FROM feeds WHERE url = ? AND id != ?", (new_url, feed_id)).fetchone()
            if clash is None:
                local = urlsplit(new_url).scheme.lower() not in ("http", "https")
                self._db.execute("UPDATE feeds SET url=?, local=? WHERE id=?", (new_url, int(local), feed_id))
            return clash is None

    def feed_by_podcast_guid(self, podcast_guid: str, *, other_than: int) -> FeedRow | None:
        """Another subscription to the show with this `podcast:guid` (the same show at another address)."""
        row = self._db.execute(
            "SELECT * FROM feeds WHERE id != ? AND json_extract(show, '$.podcast_guid') = ? ORDER BY id LIMIT 1",
            (other_than, podcast_guid),
        ).fetchone()
        return None if row is None else self._feed(row)

    def feed_page(self, feed_id: int, url: str) -> FeedPageRow | None:
        """What the last refresh learnt about one archive page of a feed."""
        row = self._db.execute("SELECT * FROM feed_pages WHERE feed_id=? AND url=?", (feed_id, url)).fetchone()
        if row is None:
            return None
        return FeedPageRow(url=row["url"], etag=row["etag"], last_modified=row["last_modified"],
                           older=tuple(json.loads(row["older"])))

    def record_feed_page(self, feed_id: int, url: str, etag: str | None, last_modified: str | None,
                         older: tuple[str, ...]) -> None:
        """Remember an archive page's validators and the older pages it links to."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO feed_pages(feed_id, url, etag, last_modified, older, fetched_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(feed_id, url) DO UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified,"
                " older=excluded.older, fetched_at=excluded.fetched_at",
                (feed_id, url, etag, last_modified, json.dumps(list(older)), now()),
            )

    # -- episodes -----------------------------------------------------------
    def upsert_episodes(self, feed_id: int, episodes: list[Episode]) -> list[Episode]:
        """Store the feed's episodes; returns those that are new or changed.

        Episodes are matched by guid, so a changed enclosure URL (signed,
        expiring links) updates the episode instead of duplicating it. An
        episode whose guid is new is still the same one when its enclosure URL,
        or its title, date and duration, match an episode of the feed that this
        poll does not list under its old guid (publishers that mint a guid per request).
        """
        changed: list[Episode] = []
        with self._lock, self._db:
            feed_url = self._db.execute("SELECT url FROM feeds WHERE id = ?", (feed_id,)).fetchone()[0]
            known = self._db.execute("SELECT id, guid, audio_url, title, published, record FROM episodes"
                                     " WHERE feed_id = ?", (feed_id,)).fetchall()
            by_guid = {r["guid"]: r for r in known}
            polled = {ep.guid for ep in episodes}
            # Episodes this poll left without their guid: candidates for a guid that changed.
            orphans = [r for r in known if r["guid"] not in polled]
            for ep in episodes:
                ep = replace(ep, key="")  # the key lives in its column, not in the feed's record
                record = json.dumps(to_dict(ep), sort_keys=True)
                row = by_guid.get(ep.guid)
                if row is None:
                    row = _same_episode(orphans, ep)
                    if row is not None:
                        orphans.remove(row)
                if row is None:
                    self._db.execute(
                        "INSERT INTO episodes(feed_id, guid, key, title, published, audio_url, record, status, updated_at)"
                        " VALUES (?,?,?,?,?,?,?,?,?)",
                        (feed_id, ep.guid, episode_key(feed_url, ep.guid), ep.title, ep.published, ep.audio_url,
                         record, SKIPPED if ep.block else NEW, now()),
                    )
                    changed.append(ep)
                elif row["record"] != record:
                    self._db.execute(
                        "UPDATE episodes SET guid=?, title=?, published=?, audio_url=?, record=?, updated_at=? WHERE id=?",
                        (ep.guid, ep.title, ep.published, ep.audio_url, record, now(), row["id"]),
                    )
                    changed.append(ep)
        return changed

    def episodes(self, feed_id: int | None = None, status: str | None = None) -> list[EpisodeRow]:
        """Episodes, newest first, optionally of one feed and/or one status."""
        sql = ("SELECT e.*, COALESCE(f.title, f.url) AS show_title FROM episodes e JOIN feeds f ON f.id = e.feed_id"
               " WHERE 1=1")
        args: list[object] = []
        if feed_id is not None:
            sql += " AND e.feed_id = ?"
            args.append(feed_id)
        if status is not None:
            sql += " AND e.status = ?"
            args.append(status)
        sql += " ORDER BY COALESCE(e.published, '') DESC, e.id DESC"
        return [self._episode(r) for r in self._db.execute(sql, args)]

    def episode_by_guid(self, guid: str) -> EpisodeRow | None:
        """The episode with this guid (first feed wins when two share it; prefer `find_episodes`)."""
        row = self._db.execute(
            "SELECT e.*, COALESCE(f.title, f.url) AS show_title FROM episodes e JOIN feeds f ON f.id = e.feed_id"
            " WHERE e.guid = ? ORDER BY e.id LIMIT 1",
            (guid,),
        ).fetchone()
        return None if row is None else self._episode(row)

    def find_episodes(self, ident: str) -> list[EpisodeRow]:
        """The episode whose key is `ident`, else every episode whose publisher guid is `ident`."""
        sql = ("SELECT e.*, COALESCE(f.title, f.url) AS show_title FROM episodes e JOIN feeds f ON f.id = e.feed_id"
               " WHERE e.{} = ? ORDER BY e.id")
        rows = self._db.execute(sql.format("key"), (ident,)).fetchall() or \
            self._db.execute(sql.format("guid"), (ident,)).fetchall()
        return [self._episode(r) for r in rows]

    def _episode(self, row: sqlite3.Row) -> EpisodeRow:
        return EpisodeRow(
            id=row["id"], feed_id=row["feed_id"], episode=replace(episode_from_json(row["record"]), key=row["key"]),
            status=row["status"],
            error=row["error"], source=row["source"], transcript_path=self._full_path(row["transcript_path"]),
            show_title=row["show_title"],
        )

    def set_status(self, episode_id: int, status: str, *, error: str | None = None, source: str | None = None,
                   transcript_path: str | None = None) -> None:
        """Move an episode along the pipeline (or mark it failed with why)."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE episodes SET status=?, error=?, source=COALESCE(?, source),"
                " transcript_path=COALESCE(?, transcript_path), updated_at=? WHERE id=?",
                (status, error, source, self._stored_path(transcript_path), now(), episode_id),
            )

    def set_transcript_path(self, episode_id: int, path: str) -> None:
        """Record where an episode's transcript file now lives (its status stays)."""
        with self._lock, self._db:
            self._db.execute("UPDATE episodes SET transcript_path=? WHERE id=?", (self._stored_path(path), episode_id))

    # -- collections ----------------------------------------------------------
    def speaker_names(self, episode_id: int) -> dict[str, str]:
        """The names a user gave this episode's speakers: {label as first shown: name}."""
        rows = self._db.execute("SELECT label, name FROM speaker_names WHERE episode_id = ?", (episode_id,))
        return {r["label"]: r["name"] for r in rows}

    def name_speaker(self, episode_id: int, shown: str, name: str) -> None:
        """Remember that the speaker shown as `shown` is `name` (a rename of a rename keeps the first label)."""
        with self._lock, self._db:
            row = self._db.execute("SELECT label FROM speaker_names WHERE episode_id = ? AND name = ?",
                                   (episode_id, shown)).fetchone()
            label = row["label"] if row else shown
            self._db.execute("INSERT INTO speaker_names(episode_id, label, name) VALUES (?,?,?)"
                             " ON CONFLICT(episode_id, label) DO UPDATE SET name = excluded.name",
                             (episode_id, label, name))

    def collections(self) -> list[str]:
        """Names of all clip collections."""
        return [r[0] for r in self._db.execute("SELECT name FROM collections ORDER BY name")]

    def create_collection(self, name: str) -> int:
        """Create (or find) a collection by name; returns its id."""
        name = name.strip()
        if not name:
            raise ValueError("a collection needs a name")
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO collections(name, created_at) VALUES (?, ?)", (name, now()))
        return int(self._db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()[0])

    def delete_collection(self, name: str) -> None:
        """Delete a collection and its items."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM collections WHERE name = ?", (name,))

    def add_to_collection(self, name: str, hit: dict, note: str = "") -> int:
        """Append a hit (as a dict) to the named collection; returns the item id."""
        cid = self.create_collection(name)
        with self._lock, self._db:
            pos = self._db.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM collection_items WHERE collection_id = ?", (cid,)
            ).fetchone()[0]
            cur = self._db.execute(
                "INSERT INTO collection_items(collection_id, position, hit, note) VALUES (?,?,?,?)",
                (cid, pos, json.dumps(hit, sort_keys=True), note),
            )
        return int(cur.lastrowid)

    def collection_items(self, name: str) -> list[dict]:
        """Items of a collection in order: {"id", "hit", "note"}."""
        rows = self._db.execute(
            "SELECT i.id, i.hit, i.note FROM collection_items i JOIN collections c ON c.id = i.collection_id"
            " WHERE c.name = ? ORDER BY i.position, i.id",
            (name,),
        ).fetchall()
        return [{"id": r["id"], "hit": json.loads(r["hit"]), "note": r["note"]} for r in rows]

    def move_item(self, name: str, item_id: int, offset: int) -> None:
        """Move an item up (-1) or down (+1) in its collection."""
        items = self.collection_items(name)
        ids = [i["id"] for i in items]
        if item_id not in ids:
            return
        i = ids.index(item_id)
        j = max(0, min(len(ids) - 1, i + offset))
        ids.insert(j, ids.pop(i))
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE collection_items SET position = ? WHERE id = ?", [(pos, iid) for pos, iid in enumerate(ids)]
            )

    def annotate_item(self, item_id: int, note: str) -> None:
        """Set the note of a collection item."""
        with self._lock, self._db:
            self._db.execute("UPDATE collection_items SET note = ? WHERE id = ?", (note, item_id))

    def remove_item(self, item_id: int) -> None:
        """Remove an item from its collection."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM collection_items WHERE id = ?", (item_id,))


def _same_episode(candidates: list[sqlite3.Row], ep: Episode) -> sqlite3.Row | None:
    """The stored episode `ep` is, under another guid: same enclosure, or same title, date and duration."""
    for row in candidates:
        if row["audio_url"] == ep.audio_url:
            return row
    if not (ep.title and ep.published):
        return None
    for row in candidates:
        if (row["title"], row["published"]) == (ep.title, ep.published) and \
                json.loads(row["record"]).get("duration") == ep.duration:
            return row
    return None
