"""Saved searches that alert: each watch looks for its query in every ingest's new episodes.

A watch is a query with filters (show, speaker, the lowest confidence it accepts). The catalog queues every
episode that becomes indexed (the `watch_pending` trigger of m006_watches); at the end of an ingest,
`after_ingest` searches those episodes only, one search per watch restricted to their keys, so the cost
follows the new episodes, never the library. Each clip found becomes one entry (its id: the episode key and
the clip's start), kept in the catalog: a reindex, a restart or the same episode indexed again never reports
it twice, because each watch remembers the episodes it has checked. Entries are read as an Atom feed
(`feed`), in the app's Watching page, through the API and the MCP server, and posted to the watch's webhook:
all posts of an ingest run at once within one budget (settings.webhook_budget), and a post that fails is
kept and tried again at the next ingest. Nothing here ever fails an ingest: problems become warnings.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

from podsearch.core.clock import timestamp
from podsearch.core.config import Settings
from podsearch.core.errors import BlockedAddressError, PodsearchError, QueryError
from podsearch.core.markup import xml_text
from podsearch.core.migrations import open_database
from podsearch.core.records import CONFIDENCES
from podsearch.service import exports
from podsearch.service.library import MIGRATIONS, now

ATOM = "http://www.w3.org/2005/Atom"
# Posts sent at once; more endpoints than this share the same budget (one that is down costs no more).
DELIVERY_WORKERS = 16
# New episodes searched together by one watch's search (whose answer holds at most queries.MAX_K clips).
EPISODES_PER_SEARCH = 20
_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f/\\]{1,80}")

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Watch:
    """A saved search and where its entries stand."""

    name: str
    query: str
    show: str | None
    speaker: str | None
    min_confidence: str
    webhook: str | None
    created_at: str
    entries: int = 0
    unread: int = 0
    undelivered: int = 0  # webhook posts not delivered yet (failed, to be retried)
    last_error: str | None = None  # why the latest failed post failed

    @property
    def webhook_state(self) -> str:
        """`none`, `ok`, or how many posts wait for a retry and why."""
        if not self.webhook:
            return "none"
        if not self.undelivered:
            return "ok"
        return f"{self.undelivered} undelivered, retried at the next ingest ({self.last_error})"

    def to_json(self) -> dict[str, Any]:
        """The watch as `watch list --json` and the API show it."""
        return {**asdict(self), "webhook_state": self.webhook_state}


@dataclass(frozen=True)
class WatchEntry:
    """One clip a watch found: the hit as `search --json` gives it, and when it was found."""

    id: int
    clip: str  # the episode key and the clip's start: stable across ingests and reindexing
    hit: dict[str, Any]
    found_at: str
    read: bool

    @property
    def atom_id(self) -> str:
        """The entry's permanent id in feeds."""
        return f"urn:podsearch:clip:{self.clip}"

    def to_json(self) -> dict[str, Any]:
        """The entry for JSON answers (API, MCP)."""
        return {"id": self.atom_id, "found_at": self.found_at, "read": self.read, "hit": self.hit}


@dataclass(frozen=True)
class WatchCheck:
    """What the check after one ingest did."""

    episodes: int = 0  # new episodes looked at
    entries: int = 0  # new entries, all watches together
    delivered: int = 0  # webhook posts delivered
    failed: int = 0  # webhook posts that failed (kept for the next ingest)


def clip_id(hit: dict[str, Any]) -> str:
    """A clip's stable id: its episode's key and its start."""
    return f"{hit.get('key') or hit['guid']}:{exports.url_seconds(hit['start'])}"


def entry_title(hit: dict[str, Any]) -> str:
    """`Show — Episode (m:ss)`."""
    return f"{hit['show']} — {hit['episode']} ({timestamp(hit['start'])})"


def app_link(settings: Settings, hit: dict[str, Any]) -> str | None:
    """The app's episode view at the clip, when the app's public address is configured (PODSEARCH_APP_URL)."""
    if not settings.app_url:
        return None
    return exports.share_url(settings.app_url.rstrip("/") + "/episode", exports.clip_params(hit))


def check_name(name: str) -> str:
    """The watch name, stripped, or a QueryError saying what a name may be."""
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise QueryError(f"watch name {name!r} is not usable; give 1-80 characters without slashes or control "
                         "characters, e.g. --name de-escalation")
    return name


class WatchBook:
    """The watches of one home, on a catalog connection of their own (the catalog's schema, m006_watches)."""

    def __init__(self, settings: Settings) -> None:
        settings.library_db.parent.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.db = open_database(str(settings.library_db), MIGRATIONS, check_same_thread=False, timeout=30)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- the watches -------------------------------------------------------------------------
    def add(self, query: str, name: str, *, show: str | None = None, speaker: str | None = None,
            min_confidence: str = "partial", webhook: str | None = None) -> Watch:
        """Save a watch; it reports clips of episodes indexed from now on."""
        name = check_name(name)
        query = (query or "").strip()
        if not query:
            raise QueryError("the watch's query is empty; give the words you want to hear about")
        if min_confidence not in CONFIDENCES:
            raise QueryError(f"--min-confidence {min_confidence!r} is unknown; choose one of: {', '.join(CONFIDENCES)}")
        webhook = (webhook or "").strip() or None
        if webhook is not None:
            check_webhook(self.settings, webhook)
        try:
            with self.db:
                self.db.execute(
                    "INSERT INTO watches(name, query, show, speaker, min_confidence, webhook, created_at)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (name, query, (show or "").strip() or None, (speaker or "").strip() or None, min_confidence,
                     webhook, now()))
        except sqlite3.IntegrityError:
            raise PodsearchError(f"a watch named {name!r} exists already; choose another name, or remove it "
                                 f"first (podsearch watch rm {name!r})") from None
        return self.get(name)

    def watches(self) -> list[Watch]:
        """Every watch, by name, with its counts and webhook state."""
        rows = self.db.execute(
            "SELECT w.*,"
            " (SELECT COUNT(*) FROM watch_entries e WHERE e.watch_id = w.id) AS entries,"
            " (SELECT COUNT(*) FROM watch_entries e WHERE e.watch_id = w.id AND NOT e.read) AS unread,"
            " (SELECT COUNT(*) FROM watch_deliveries d JOIN watch_entries e ON e.id = d.entry_id"
            "   WHERE e.watch_id = w.id AND d.delivered_at IS NULL) AS undelivered,"
            " (SELECT d.error FROM watch_deliveries d JOIN watch_entries e ON e.id = d.entry_id"
            "   WHERE e.watch_id = w.id AND d.delivered_at IS NULL AND d.error IS NOT NULL"
            "   ORDER BY d.tried_at DESC LIMIT 1) AS last_error"
            " FROM watches w ORDER BY w.name").fetchall()
        return [Watch(name=r["name"], query=r["query"], show=r["show"], speaker=r["speaker"],
                      min_confidence=r["min_confidence"], webhook=r["webhook"], created_at=r["created_at"],
                      entries=r["entries"], unread=r["unread"], undelivered=r["undelivered"],
                      last_error=r["last_error"]) for r in rows]

    def get(self, name: str) -> Watch:
        """The watch called `name`, or a PodsearchError listing the ones there are."""
        watches = self.watches()
        for watch in watches:
            if watch.name == name:
                return watch
        known = ", ".join(repr(w.name) for w in watches) or "none yet"
        raise PodsearchError(f"no watch named {name!r} (watches: {known}); `podsearch watch list` shows them")

    def remove(self, name: str) -> None:
        """Delete a watch with its entries and pending posts."""
        self.get(name)
        with self.db:
            self.db.execute("DELETE FROM watches WHERE name = ?", (name,))

    def entries(self, name: str, *, unread_only: bool = False) -> list[WatchEntry]:
        """The watch's entries, newest first."""
        self.get(name)
        rows = self.db.execute(
            "SELECT e.* FROM watch_entries e JOIN watches w ON w.id = e.watch_id WHERE w.name = ?"
            + (" AND NOT e.read" if unread_only else "") + " ORDER BY e.found_at DESC, e.id DESC", (name,))
        return [WatchEntry(id=r["id"], clip=r["clip"], hit=json.loads(r["hit"]), found_at=r["found_at"],
                           read=bool(r["read"])) for r in rows]

    def mark_read(self, name: str) -> int:
        """Mark every entry of the watch as read; returns how many were new."""
        watch = self.get(name)
        with self.db:
            self.db.execute("UPDATE watch_entries SET read = 1 WHERE NOT read AND watch_id ="
                            " (SELECT id FROM watches WHERE name = ?)", (name,))
        return watch.unread

    # -- after an ingest ---------------------------------------------------------------------
    def check(self, index: Any, warn: Warn) -> WatchCheck:  # index: index.store.SearchIndex
        """Search the episodes indexed since the last check for every watch, record the clips found,
        then post every undelivered entry to its webhook."""
        pending = [tuple(r) for r in self.db.execute("SELECT key, indexed_at FROM watch_pending")]
        found, search_failed = 0, False
        # Episodes indexed since each watch was made that it has not looked at yet (never twice).
        todo = [(watch, [r[0] for r in self.db.execute(
            "SELECT p.key FROM watch_pending p WHERE p.indexed_at >= ? AND NOT EXISTS (SELECT 1 FROM watch_checked c"
            " WHERE c.watch_id = (SELECT id FROM watches WHERE name = ?) AND c.key = p.key) ORDER BY p.key",
            (watch.created_at, watch.name))]) for watch in (self.watches() if pending else ())]
        todo = [(watch, keys) for watch, keys in todo if keys]
        # Every watch's query embedded in one batch: one model call instead of one per watch (bench_watches).
        queries = list(dict.fromkeys(watch.query for watch, _ in todo))
        vectors = dict(zip(queries, index.embedder.encode(queries))) if queries else {}
        for watch, keys in todo:
            # A few episodes per search, so one search's clips (at most MAX_K) hold all their matches.
            for chunk in (keys[i:i + EPISODES_PER_SEARCH] for i in range(0, len(keys), EPISODES_PER_SEARCH)):
                try:
                    hits = self._matches(index, watch, chunk, vectors[watch.query])
                except PodsearchError as exc:
                    warn(f"watch {watch.name!r}: {exc}; its new episodes are checked again at the next ingest")
                    search_failed = True
                    break
                found += self._record(watch, chunk, hits)
        if pending and not search_failed:
            with self.db:
                self.db.executemany("DELETE FROM watch_pending WHERE key = ? AND indexed_at = ?", pending)
        delivered, failed = self.deliver(warn)
        return WatchCheck(episodes=len(pending), entries=found, delivered=delivered, failed=failed)

    def _matches(self, index: Any, watch: Watch, keys: list[str], qvec: Any = None) -> list[dict[str, Any]]:
        """The watch's clips among the episodes `keys`, at or above its confidence, sponsor reads left out."""
        from podsearch.index.search import search
        from podsearch.service.queries import MAX_K, hit_json, search_options

        options = search_options(self.settings, k=MAX_K, shows=(watch.show,) if watch.show else (),
                                 speaker=watch.speaker)
        options = replace(options, filters=replace(options.filters, keys=tuple(keys)))
        lowest = CONFIDENCES.index(watch.min_confidence)
        return [hit_json(h) for h in search(index, watch.query, options, qvec)
                if h.kind != "sponsor" and CONFIDENCES.index(h.confidence if h.confidence in CONFIDENCES
                                                              else CONFIDENCES[-1]) <= lowest]

    def _record(self, watch: Watch, keys: list[str], hits: list[dict[str, Any]]) -> int:
        """Store the new entries (and their posts), and that `keys` were checked: one transaction."""
        added = 0
        found_at = now()
        with self.db:
            watch_id = self.db.execute("SELECT id FROM watches WHERE name = ?", (watch.name,)).fetchone()[0]
            for hit in sorted(hits, key=lambda h: (h["published"] or "", h["key"], h["start"])):
                cur = self.db.execute("INSERT OR IGNORE INTO watch_entries(watch_id, clip, hit, found_at)"
                                      " VALUES (?,?,?,?)", (watch_id, clip_id(hit), json.dumps(hit, sort_keys=True),
                                                            found_at))
                if cur.rowcount:
                    added += 1
                    if watch.webhook:
                        self.db.execute("INSERT INTO watch_deliveries(entry_id) VALUES (?)", (cur.lastrowid,))
            self.db.executemany("INSERT OR IGNORE INTO watch_checked(watch_id, key) VALUES (?,?)",
                                [(watch_id, k) for k in keys])
        return added

    def deliver(self, warn: Warn) -> tuple[int, int]:
        """Post every undelivered entry to its watch's webhook, all at once within settings.webhook_budget;
        (delivered, failed). Failures are recorded and retried by the next call."""
        rows = self.db.execute(
            "SELECT d.entry_id, e.clip, e.hit, e.found_at, w.name, w.query, w.webhook FROM watch_deliveries d"
            " JOIN watch_entries e ON e.id = d.entry_id JOIN watches w ON w.id = e.watch_id"
            " WHERE d.delivered_at IS NULL AND w.webhook IS NOT NULL ORDER BY d.entry_id").fetchall()
        if not rows:
            return 0, 0
        budget = self.settings.webhook_budget
        end = time.monotonic() + budget

        def send(row: sqlite3.Row) -> str | None:
            left = end - time.monotonic()
            if left <= 0.05:
                return f"not sent: this ingest's {budget:g} s for webhooks ran out (PODSEARCH_WEBHOOK_BUDGET)"
            body = json.dumps({"watch": row["name"], "query": row["query"], "id": f"urn:podsearch:clip:{row['clip']}",
                               "found_at": row["found_at"], "hit": json.loads(row["hit"])}, ensure_ascii=False)
            return post_webhook(self.settings, row["webhook"], body.encode("utf-8"), left)

        pool = ThreadPoolExecutor(max_workers=min(DELIVERY_WORKERS, len(rows)), thread_name_prefix="podsearch-webhook")
        try:
            futures = [pool.submit(send, row) for row in rows]
            # Every post ends by its deadline (the budget left); the extra second covers the threads' own start.
            wait(futures, timeout=budget + 1.0)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        outcomes = [f.result() if f.done() and not f.cancelled() else
                    f"no answer within this ingest's {budget:g} s for webhooks" for f in futures]
        tried = now()
        with self.db:
            for row, error in zip(rows, outcomes):
                self.db.execute("UPDATE watch_deliveries SET attempts = attempts + 1, error = ?, tried_at = ?,"
                                " delivered_at = ? WHERE entry_id = ?",
                                (error, tried, None if error else tried, row["entry_id"]))
        failed = [(row, e) for row, e in zip(rows, outcomes) if e]
        if failed:
            names = sorted({row["name"] for row, _ in failed})
            warn(f"{len(failed)} webhook post(s) of watch(es) {', '.join(names)} failed ({failed[0][1]}); "
                 "they are retried at the next ingest")
        return len(rows) - len(failed), len(failed)

    # -- the feed ----------------------------------------------------------------------------
    def feed(self, name: str) -> str:
        """The watch's entries as an Atom 1.0 document, newest first."""
        watch = self.get(name)
        entries = self.entries(name)
        return atom_feed(self.settings, watch, entries)


def atom_feed(settings: Settings, watch: Watch, entries: list[WatchEntry]) -> str:
    """An Atom 1.0 feed of `entries`, written by the standard library's XML writer (feed text is escaped by
    it; characters XML cannot carry at all are replaced first, core.markup.xml_text)."""
    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
        if text is not None:
            node.text = xml_text(text)
        return node

    root = ET.Element("feed", {"xmlns": ATOM})
    add(root, "id", f"urn:podsearch:watch:{quote(watch.name, safe='')}")
    add(root, "title", f"podsearch watch {watch.name}: {watch.query}")
    add(root, "subtitle", "Clips of newly ingested episodes that match a saved search")
    add(root, "updated", max((e.found_at for e in entries), default=watch.created_at))
    add(add(root, "author"), "name", "podsearch")
    add(root, "generator", "podsearch")
    for item in entries:
        hit = item.hit
        entry = add(root, "entry")
        add(entry, "id", item.atom_id)
        add(entry, "title", entry_title(hit))
        in_app, audio = app_link(settings, hit), exports.deep_link(hit)
        if in_app:
            add(entry, "link", rel="alternate", type="text/html", href=in_app)
        if audio:
            add(entry, "link", rel="related" if in_app else "alternate", href=audio)
        add(entry, "updated", item.found_at)
        add(entry, "summary", hit["text"], type="text")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def check_webhook(settings: Settings, url: str) -> None:
    """Refuse a webhook that is not http(s), or whose host is private without --allow-private."""
    from podsearch.ingest import net

    if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
        raise QueryError(f"--webhook {url!r} is not an http(s) URL; give the address that receives the posts")
    try:
        net.check_url(url, allow_private=settings.allow_private)
    except BlockedAddressError:
        raise
    except PodsearchError:
        pass  # a name that does not resolve now may later; each post checks again


def post_webhook(settings: Settings, url: str, body: bytes, seconds: float) -> str | None:
    """POST one JSON body through the SSRF guard within `seconds`; None when delivered, else why not."""
    from podsearch.ingest import net

    try:
        status = net.post_json(url, body, settings=settings, seconds=seconds)
    except PodsearchError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a delivery never fails the ingest; its reason is kept
        return f"{url}: {type(exc).__name__}: {net.one_line(exc)}"
    return None if 200 <= status < 300 else f"{url}: HTTP {status}; the receiver refused the post"


@contextmanager
def watch_book(settings: Settings) -> Iterator[WatchBook]:
    """The home's watches, closed when the block ends."""
    book = WatchBook(settings)
    try:
        yield book
    finally:
        book.close()


def after_ingest(settings: Settings, index: Any, warn: Warn) -> WatchCheck:
    """The step at the end of every ingest: check the new episodes against every watch and post the
    webhooks. Never raises (a watch must not fail an ingest): a problem becomes a warning, and what was
    not done stays queued for the next ingest."""
    try:
        with watch_book(settings) as book:
            return book.check(index, warn)
    except Exception as exc:  # noqa: BLE001 - the episodes are indexed already; the watches wait for the next run
        warn(f"watches were not checked ({type(exc).__name__}: {exc}); the next ingest checks these episodes")
        return WatchCheck()


def public_watch(watch: Watch) -> dict[str, Any]:
    """What anyone who may search sees of a watch: no webhook address or delivery error (they may hold secrets)."""
    data = watch.to_json()
    for private in ("webhook", "last_error", "webhook_state"):
        data.pop(private)
    return {**data, "webhook": bool(watch.webhook)}


def delivery_problems(settings: Settings) -> list[str]:
    """One line per watch whose webhook has undelivered posts (for `status`)."""
    with watch_book(settings) as book:
        return [f"watch {w.name}: webhook {w.webhook_state}" for w in book.watches() if w.undelivered]
