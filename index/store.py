"""The search index of one home: SQLite (passages, segments, FTS5) beside FAISS.

SQLite is the source of truth, embeddings included; the FAISS file is a fast
copy of those vectors, named by the database's generation so a crash between
the two writes is detected and the copy rebuilt instead of trusted.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from podsearch.index import vectors
from podsearch.index.keyword import GenerationMemo, Stemmer, stem_frequency, spellings_like
from podsearch.index.passages import make_passages, searchable_segments, soundbite_passages
from podsearch.core.languages import ENGLISH, primary
from podsearch.core.migrations import Migrations, open_database
from podsearch.core.records import Chapter, Passage, Segment, Transcript, to_dict

# Texts embedded per progress report for a long episode (~1-2 s of CPU each on 2 cores).
EMBED_BLOCK = 256

# The index database's schema history. Never edit a step that has shipped: add the next one.
MIGRATIONS = Migrations("search index")
MIGRATIONS.sql("m001_initial", """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    guid TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    show TEXT NOT NULL,
    episode TEXT NOT NULL,
    published TEXT,
    source TEXT NOT NULL,
    audio_url TEXT,
    link TEXT,
    language TEXT,
    chapters TEXT NOT NULL DEFAULT '[]',
    persons TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS segments (
    guid TEXT NOT NULL REFERENCES episodes(guid) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    speaker TEXT,
    flagged INTEGER NOT NULL DEFAULT 0,
    embedding BLOB NOT NULL,
    PRIMARY KEY (guid, idx)
);
-- AUTOINCREMENT: ids are never reused, so a stale FAISS id can never alias a new passage.
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL REFERENCES episodes(guid) ON DELETE CASCADE,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    first_segment INTEGER NOT NULL,
    last_segment INTEGER NOT NULL,
    flagged INTEGER NOT NULL DEFAULT 0,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_guid ON passages(guid);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    text, content='passages', content_rowid='id', tokenize='porter unicode61'
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, 'row');
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
""")
# Segment kinds (speech, sponsor, intro, outro): older homes' rows are speech until re-indexed.
MIGRATIONS.sql("m002_segment_kinds", """
ALTER TABLE segments ADD COLUMN kind TEXT NOT NULL DEFAULT 'speech';
ALTER TABLE passages ADD COLUMN kind TEXT NOT NULL DEFAULT 'speech';
""")


def chapters_from_json(text: str | None) -> tuple[Chapter, ...]:
    """The chapters an `episodes.chapters` column holds."""
    return tuple(Chapter(**c) for c in json.loads(text or "[]"))


# Episodes are keyed by their feed-scoped key (Transcript.key), not the publisher's guid: two shows may
# reuse guid "1". Old rows keep their guid as key; the pipeline maps them to keys (service.upgrades.reconcile).
# RENAME COLUMN carries the primary key, the foreign keys and the passages index along.
MIGRATIONS.sql("m003_episode_keys", """
ALTER TABLE episodes RENAME COLUMN guid TO key;
ALTER TABLE episodes ADD COLUMN guid TEXT;
UPDATE episodes SET guid = key;
ALTER TABLE segments RENAME COLUMN guid TO key;
ALTER TABLE passages RENAME COLUMN guid TO key;
""")

# Each passage's spoken language (core.languages.primary). English passages stay in `passages_fts`
# (Porter stemming is English); the others go to `passages_fts_plain`, folded but not stemmed. Older rows
# are English: they were transcribed by the English model.
MIGRATIONS.sql("m004_passage_languages", """
ALTER TABLE passages ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts_plain USING fts5(
    text, content='passages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
DROP TRIGGER IF EXISTS passages_ai;
DROP TRIGGER IF EXISTS passages_ad;
CREATE TRIGGER passages_ai AFTER INSERT ON passages WHEN new.language = 'en' BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER passages_ad AFTER DELETE ON passages WHEN old.language = 'en' BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER passages_plain_ai AFTER INSERT ON passages WHEN new.language != 'en' BEGIN
    INSERT INTO passages_fts_plain(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER passages_plain_ad AFTER DELETE ON passages WHEN old.language != 'en' BEGIN
    INSERT INTO passages_fts_plain(passages_fts_plain, rowid, text) VALUES ('delete', old.id, old.text);
END;
""")


# The topic map (index.topics): topics with their centres, and each passage's topic (-1: none yet fits).
MIGRATIONS.sql("m005_topics", """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    terms TEXT NOT NULL DEFAULT '[]',
    centroid BLOB NOT NULL,
    size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS passage_topics (
    passage_id INTEGER PRIMARY KEY,
    topic INTEGER NOT NULL,
    score REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS passage_topics_topic ON passage_topics(topic);
""")


@dataclass(frozen=True)
class IndexedEpisode:
    """An episode as the index knows it."""

    key: str
    guid: str
    show: str
    episode: str
    published: str | None
    source: str
    audio_url: str | None
    link: str | None
    content_hash: str
    passages: int
    chapters: tuple[Chapter, ...] = ()


# The episode's columns a hit carries (show, title, date, where to play it, its chapters).
_HIT_EPISODE_COLUMNS = ("guid", "show", "episode", "published", "source", "audio_url", "link", "chapters")


class SearchIndex:
    """Passages of every indexed transcript, searchable by vector and keyword."""

    def __init__(self, index_dir: Path, embedder: Callable[[], object] | object | None = None,
                 vector_config: vectors.IndexConfig | None = None, *, read_only: bool = False,
                 vectors_of: "SearchIndex | None" = None, reranker: Callable[[str], object] | None = None) -> None:
        """Open the index in `index_dir`.

        `embedder`: the sentence model, or a function loading it on first use (None: this index loads
        the default model itself). `reranker`: a function giving the cross-encoder of a name, for
        searches that re-rank (None: this index loads each one itself, once).

        `read_only`: a reader beside another process that writes (the API server): its connection
        cannot write, and it never saves a FAISS file; the schema must already be current.
        `vectors_of`: share that reader's FAISS copy instead of loading another one (one copy per process).
        """
        self.dir = Path(index_dir)
        self.vector_config = vector_config or vectors.IndexConfig()
        self.db_path = self.dir / "index.sqlite"
        self._embedder_source = embedder
        self._embedder = None
        self._reranker_source = reranker
        self._rerankers: dict[str, object] = {}
        # Query and passage words stemmed once per index (one per pool when it shares a FAISS copy).
        self.stemmer = vectors_of.stemmer if vectors_of is not None else Stemmer()
        self._memo = vectors_of._memo if vectors_of is not None else GenerationMemo()
        self._lock = threading.RLock()
        self.read_only = read_only
        self._vectors_of = vectors_of
        if read_only:
            self._db = open_reader(self.db_path)
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._db = open_database(str(self.db_path), MIGRATIONS, check_same_thread=False, timeout=30)
        self._background: ThreadPoolExecutor | None = None
        # A search looks its words up on a thread of its own while the query is embedded (see
        # search.retrieve); a server's pool turns it off while its searches already fill the cores.
        self.overlap_keyword = True
        self._vocabulary: tuple[int, list[str]] = (-1, [])
        self._faiss: faiss.Index | None = None
        self._faiss_generation = -1
        self._count: tuple[int, int] = (-1, 0)  # (generation, passages): COUNT(*) scans the table

    # -- embedder -----------------------------------------------------------
    @property
    def embedder(self):  # noqa: ANN201 - duck-typed Embedder
        """The sentence model, loaded on first use."""
        if self._embedder is None:
            source = self._embedder_source
            if source is None:
                from podsearch.index.embed import Embedder

                source = Embedder
            self._embedder = source() if callable(source) else source
            self._check_model(self._embedder.name)
        return self._embedder

    def reranker(self, name: str):  # noqa: ANN201 - duck-typed index.rerank.Reranker
        """The cross-encoder `name` for re-ranking, loaded on first use."""
        with self._lock:
            known = self._rerankers.get(name)
        if known is None:  # loaded outside the lock: a load takes seconds, searches need not wait for it
            load = self._reranker_source
            if load is None:
                from podsearch.index.rerank import Reranker

                load = Reranker
            loaded = load(name)
            with self._lock:
                known = self._rerankers.setdefault(name, loaded)
        return known

    def _check_model(self, name: str) -> None:
        stored = self._meta("embed_model")
        if stored is None:
            if self.read_only:
                return
            self._set_meta("embed_model", name)
            self._db.commit()
        elif stored != name and self.passage_count():
            from podsearch.core.errors import ModelError

            raise ModelError(
                f"the index was built with sentence model '{stored}', not '{name}'; "
                "run `podsearch reindex` to rebuild it with the new model"
            )

    # -- meta ---------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """A counter bumped by every change; readers reload when it moves."""
        return int(self._meta("generation") or 0)

    # -- writing ------------------------------------------------------------
    def indexed_hash(self, key: str) -> str | None:
        """Content hash of the transcript indexed under episode `key`, if any."""
        row = self._db.execute("SELECT content_hash FROM episodes WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def add_transcript(self, transcript: Transcript, content_hash: str, *, min_seconds: float = 20.0,
                       max_seconds: float = 60.0, max_words: int = 170,
                       progress: Callable[[int, int], None] | None = None) -> int:
        """Index (or re-index) one transcript; returns its passage count.

        Skips the work when the same content is already indexed. `progress(done, total)`
        hears how many texts (segments and passages) are embedded so far.
        """
        key = transcript.id
        if self.indexed_hash(key) == content_hash:
            return self._count_for(key)
        language = primary(transcript.language) or ENGLISH
        segments = searchable_segments(transcript, max_words)
        passages = make_passages(transcript, min_seconds=min_seconds, max_seconds=max_seconds, max_words=max_words)
        passages += soundbite_passages(transcript, segments)
        texts = [s.text for s in segments] + [p.text for p in passages]
        vectors = self._embed(texts, progress)
        seg_vecs, pas_vecs = vectors[: len(segments)], np.ascontiguousarray(vectors[len(segments):])
        with self._lock:
            before = self.generation()
            stale_ids = [r[0] for r in self._db.execute("SELECT id FROM passages WHERE key = ?", (key,))]
            with self._db:
                self._db.execute("DELETE FROM episodes WHERE key = ?", (key,))
                self._db.execute(
                    "INSERT INTO episodes(key, guid, content_hash, show, episode, published, source, audio_url, link,"
                    " language, chapters, persons) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        key, transcript.guid, content_hash, transcript.show, transcript.episode, transcript.published,
                        transcript.source, transcript.audio_url, transcript.link, transcript.language,
                        json.dumps([to_dict(c) for c in transcript.chapters]),
                        json.dumps([to_dict(p) for p in transcript.persons]),
                    ),
                )
                self._db.executemany(
                    "INSERT INTO segments(key, idx, start, end, text, speaker, flagged, kind, embedding)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        (key, i, s.start, s.end, s.text.strip(), s.speaker, int(s.flagged), s.kind,
                         seg_vecs[i].astype(np.float16).tobytes())
                        for i, s in enumerate(segments)
                    ],
                )
                self._db.executemany(
                    "INSERT INTO passages(key, start, end, text, first_segment, last_segment, flagged, kind,"
                    " language, embedding) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        (key, p.start, p.end, p.text, p.first_segment, p.last_segment, int(p.flagged), p.kind,
                         language, pas_vecs[i].tobytes())
                        for i, p in enumerate(passages)
                    ],
                )
                self._set_meta("generation", str(before + 1))
            new_ids = [r[0] for r in self._db.execute("SELECT id FROM passages WHERE key = ? ORDER BY id", (key,))]
            self._update_faiss(before, stale_ids, np.array(new_ids, dtype=np.int64), pas_vecs)
        return len(passages)

    def _embed(self, texts: list[str], progress: Callable[[int, int], None] | None) -> np.ndarray:
        """Vectors of `texts`, in blocks so a long episode reports progress as it goes."""
        if progress is None or len(texts) <= EMBED_BLOCK:
            vectors = self.embedder.encode(texts)
        else:
            blocks = []
            for i in range(0, len(texts), EMBED_BLOCK):
                blocks.append(self.embedder.encode(texts[i : i + EMBED_BLOCK]))
                progress(min(i + EMBED_BLOCK, len(texts)), len(texts))
            vectors = np.concatenate(blocks)
        return vectors

    def remove_episode(self, key: str) -> bool:
        """Drop an episode's passages (by episode key); True when it was indexed."""
        with self._lock:
            before = self.generation()
            stale_ids = [r[0] for r in self._db.execute("SELECT id FROM passages WHERE key = ?", (key,))]
            with self._db:
                cur = self._db.execute("DELETE FROM episodes WHERE key = ?", (key,))
                if cur.rowcount:
                    self._set_meta("generation", str(before + 1))
            if cur.rowcount:
                self._update_faiss(before, stale_ids, np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.float32))
        return bool(cur.rowcount)

    def rekey_episode(self, old: str, new: str) -> bool:
        """Give an indexed episode a new key in place (passage ids, hence FAISS, stay); True if it moved."""
        with self._lock, self._db:
            if self._db.execute("SELECT 1 FROM episodes WHERE key = ?", (new,)).fetchone():
                return False
            # Children first would break their foreign key; defer the check to the commit.
            self._db.execute("PRAGMA defer_foreign_keys = ON")
            cur = self._db.execute("UPDATE episodes SET key = ? WHERE key = ?", (new, old))
            self._db.execute("UPDATE segments SET key = ? WHERE key = ?", (new, old))
            self._db.execute("UPDATE passages SET key = ? WHERE key = ?", (new, old))
            if cur.rowcount:
                self._set_meta("generation", str(self.generation() + 1))
        return bool(cur.rowcount)

    # -- FAISS copy ---------------------------------------------------------
    def _faiss_path(self, generation: int) -> Path:
        return self.dir / f"vectors-{generation}.faiss"

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self._db.execute("SELECT id, embedding FROM passages ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def _sync_faiss(self) -> None:
        """Bring the FAISS copy to the database's generation and save it."""
        gen = self.generation()
        ids, vecs = self._all_vectors()
        dim = vecs.shape[1] if len(ids) else self._dim_or_default()
        index = vectors.build_index(dim, ids, vecs, self.vector_config)
        vectors.save_index(index, self._faiss_path(gen))
        self._faiss, self._faiss_generation = index, gen
        self._drop_old_files(gen)

    def _update_faiss(self, before: int, removed: list[int], ids: np.ndarray, vecs: np.ndarray) -> None:
        """Apply one change to the in-memory copy (no full rebuild) and save it.

        Falls back to a rebuild from SQLite when the copy is not at the
        generation the change started from, cannot delete in place (HNSW), or
        the passage count now wants another kind (the threshold was crossed:
        that rebuild is where IVF-PQ is trained, once, on the vectors present).
        """
        if self._faiss is None or self._faiss_generation != before:
            loaded = vectors.load_index(self._faiss_path(before))
            if loaded is not None:
                self._faiss, self._faiss_generation = loaded, before
        index = self._faiss
        if (index is None or self._faiss_generation != before or (removed and not vectors.can_remove(index))
                or not vectors.fits(index, self.vector_config, self.passage_count())):
            self._sync_faiss()
            return
        if removed:
            index.remove_ids(np.array(removed, dtype=np.int64))
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids)
        gen = self.generation()
        vectors.save_index(index, self._faiss_path(gen))
        self._faiss_generation = gen
        self._drop_old_files(gen)

    def _drop_old_files(self, gen: int) -> None:
        for old in self.dir.glob("vectors-*.faiss"):
            if old.name != self._faiss_path(gen).name:
                old.unlink(missing_ok=True)

    def _dim_or_default(self) -> int:
        return int(self.embedder.dim) if self._embedder is not None else 384

    def faiss_index(self) -> faiss.Index:
        """The vector index matching the database (reloaded or rebuilt if stale)."""
        if self._vectors_of is not None:
            return self._vectors_of.faiss_index()
        with self._lock:
            gen = self.generation()
            if self._faiss is not None and self._faiss_generation == gen:
                return self._faiss
            loaded = vectors.load_index(self._faiss_path(gen))
            count = self.passage_count()
            if loaded is not None and loaded.ntotal == count and vectors.fits(loaded, self.vector_config, count):
                self._faiss, self._faiss_generation = loaded, gen
            elif not self.read_only:
                self._sync_faiss()
            elif self._faiss is None:
                # Nothing to serve yet: build in memory; the writer saves the file (a reader never does).
                ids, vecs = self._all_vectors()
                dim = vecs.shape[1] if len(ids) else self._dim_or_default()
                self._faiss = vectors.build_index(dim, ids, vecs, self.vector_config)
                self._faiss_generation = gen
            # else: the writer has committed a change but not yet saved its FAISS file; serve the
            # previous copy for that moment rather than rebuilding (an HNSW build takes ~45 s at 100k).
            return self._faiss

    # -- reading ------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        """The SQLite connection (read-only use outside this module)."""
        return self._db

    def passage_count(self) -> int:
        """How many passages are indexed (counted once per generation)."""
        gen = self.generation()
        if self._count[0] != gen:
            self._count = (gen, int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]))
        return self._count[1]

    def _count_for(self, key: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM passages WHERE key = ?", (key,)).fetchone()[0])

    def episodes(self) -> list[IndexedEpisode]:
        """Every indexed episode, newest first."""
        rows = self._db.execute(
            "SELECT e.*, (SELECT COUNT(*) FROM passages p WHERE p.key = e.key) AS n FROM episodes e"
            " ORDER BY COALESCE(e.published, '') DESC, e.show, e.episode"
        ).fetchall()
        return [
            IndexedEpisode(
                key=r["key"], guid=r["guid"], show=r["show"], episode=r["episode"], published=r["published"], source=r["source"],
                audio_url=r["audio_url"], link=r["link"], content_hash=r["content_hash"], passages=r["n"],
                chapters=chapters_from_json(r["chapters"]),
            )
            for r in rows
        ]

    def segments(self, key: str, first: int = 0, last: int | None = None) -> list[Segment]:
        """The indexed segments of one episode (by key), optionally a range [first, last]."""
        sql = "SELECT start, end, text, speaker, flagged, kind FROM segments WHERE key = ? AND idx >= ?"
        args: list[object] = [key, first]
        if last is not None:
            sql += " AND idx <= ?"
            args.append(last)
        rows = self._db.execute(sql + " ORDER BY idx", args).fetchall()
        return [Segment(start=r[0], end=r[1], text=r[2], speaker=r[3], flagged=bool(r[4]), kind=r[5]) for r in rows]

    def _span_rows(self, spans: list[tuple[str, int, int]], columns: str) -> list[tuple]:
        """(range number, segment idx, *`columns`) of the segments of each (episode key, first, last) range,
        in one query per 200 ranges: a join with the ranges as a table, each one a lookup of the primary key."""
        found: list[tuple] = []
        cursor = self._db.cursor()
        cursor.row_factory = None  # plain tuples: they sort, and cost less than sqlite3.Row
        for start in range(0, len(spans), 200):  # 4 arguments a range, under SQLite's old limit of 999
            chunk = spans[start : start + 200]
            values = ",".join("(?,?,?,?)" for _ in chunk)
            args = [v for n, span in enumerate(chunk, start) for v in (n, *span)]
            found += cursor.execute(
                f"WITH span(n, key, first, last) AS (VALUES {values}) SELECT span.n, s.idx, {columns} FROM span"
                " JOIN segments s ON s.key = span.key AND s.idx BETWEEN span.first AND span.last", args).fetchall()
        return found

    def span_segments(self, spans: list[tuple[str, int, int]]) -> list[list[Segment]]:
        """The segments of each (episode key, first, last) range, in one query per 200 ranges (a search's
        candidate clips read together rather than one query each)."""
        found = self._span_rows(spans, "s.start, s.end, s.text, s.speaker, s.flagged, s.kind")
        found.sort(key=lambda r: (r[0], r[1]))
        out: list[list[Segment]] = [[] for _ in spans]
        for n, _, start_s, end_s, text, speaker, flagged, kind in found:
            out[n].append(Segment(start=start_s, end=end_s, text=text, speaker=speaker, flagged=bool(flagged), kind=kind))
        return out

    def people(self) -> list[str]:
        """Names a search can be restricted to: episodes' podcast:person and transcript speakers."""
        rows = self._db.execute(
            "SELECT json_extract(j.value, '$.name') FROM episodes e, json_each(e.persons) j"
            " UNION SELECT speaker FROM segments WHERE speaker IS NOT NULL AND speaker != ''"
        ).fetchall()
        return sorted({r[0] for r in rows if r[0]}, key=str.lower)

    def speakers(self) -> list[str]:
        """Every speaker name or label in the indexed transcripts, for the speaker filter."""
        rows = self._db.execute("SELECT DISTINCT speaker FROM segments WHERE speaker IS NOT NULL AND speaker != ''")
        return sorted((r[0] for r in rows), key=str.lower)

    def stacked_span_vectors(self, spans: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Stored segment embeddings of (episode key, first, last) ranges, in one query per 200 ranges:
        every range's rows stacked in the order given (each in segment order) as float32, and each
        range's row count."""
        found = self._span_rows(spans, "s.embedding")
        if not found:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(len(spans), dtype=np.int64)
        found.sort()  # by range, then segment (already so in practice: the sort only checks)
        sizes = np.bincount([n for n, _, _ in found], minlength=len(spans))
        stacked = np.frombuffer(b"".join([blob for _, _, blob in found]), dtype=np.float16).reshape(len(found), -1)
        return stacked.astype(np.float32), sizes

    def passages_by_id(self, ids: Iterable[int], episodes: bool = True) -> dict[int, sqlite3.Row]:
        """Passage rows joined with their episode, keyed by passage id (`episodes=False`: the passage's
        own columns only, for candidates most of which never become a hit)."""
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        columns = ("p.id, p.key, p.start, p.end, p.text, p.first_segment, p.last_segment, p.flagged, p.kind,"
                   " p.language, p.embedding")
        if not episodes:
            return {r["id"]: r for r in self._db.execute(f"SELECT {columns} FROM passages p WHERE p.id IN ({marks})", ids)}
        episode = ", ".join(f"e.{c}" for c in _HIT_EPISODE_COLUMNS)
        rows = self._db.execute(
            f"SELECT {columns}, {episode} FROM passages p JOIN episodes e ON e.key = p.key WHERE p.id IN ({marks})",
            ids,
        ).fetchall()
        return {r["id"]: r for r in rows}

    def episode_row(self, key: str) -> sqlite3.Row | None:
        """The episode columns `passages_by_id` joins (`_HIT_EPISODE_COLUMNS`) of episode `key`."""
        return self._db.execute(f"SELECT {', '.join(_HIT_EPISODE_COLUMNS)} FROM episodes WHERE key = ?",
                                (key,)).fetchone()

    def doc_frequency(self, term: str) -> int:
        """How many passages hold `term` (folded), by its stem as FTS5 stores it; remembered per generation."""
        stem = self.stemmer(term)
        return self._memo.get(("df", stem), lambda: stem_frequency(self._db, stem), self.generation)

    def spellings_like(self, term: str) -> tuple[str, ...]:
        """The indexed stems spelled most like `term` (keyword.spellings_like), remembered per generation."""
        return self._memo.get(("like", term), lambda: spellings_like(term, self.vocabulary()), self.generation)

    def vocabulary(self) -> list[str]:
        """Every stem the keyword index holds (for matching misspelled terms), cached per generation.

        One copy per pool (on the index whose FAISS copy it shares): reading it walks every posting
        list of the index (~0.2 s at 100k passages), once per generation rather than once per reader.
        """
        owner = self._vectors_of if self._vectors_of is not None else self
        gen = self.generation()
        known, terms = owner._vocabulary
        if known != gen:
            # Read on this reader's own connection, without the owner's lock: searches on the other
            # readers go on meanwhile (two readers may both read it once, at a new generation).
            terms = [r[0] for r in self._db.execute("SELECT term FROM passages_vocab WHERE length(term) >= 4")]
            with owner._lock:
                if gen >= owner._vocabulary[0]:
                    owner._vocabulary = (gen, terms)
        return terms

    @property
    def background(self) -> ThreadPoolExecutor:
        """Threads for work a search overlaps with embedding its query (the keyword lookup)."""
        with self._lock:
            if self._background is None:
                self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="podsearch-keyword")
            return self._background

    def close(self) -> None:
        """Close the database connection and stop the background threads."""
        if self._background is not None:
            self._background.shutdown(wait=True)
        self._db.close()


def open_reader(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to an index another process may be writing (WAL readers never block it)."""
    from podsearch.core.errors import PodsearchError

    if not db_path.exists():
        raise PodsearchError(f"{db_path}: no search index here yet; run `podsearch ingest` on this home first")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                         timeout=30)
    db.row_factory = sqlite3.Row
    # Pages read straight from the mapped file rather than copied into the connection's cache: a search
    # reads hundreds of scattered rows (BM25 document sizes, segment vectors), and a server's searches took
    # about an eighth less CPU so (docs/speed.md). Only address space: the OS shares the pages.
    db.execute(f"PRAGMA mmap_size = {READER_MMAP_BYTES}")
    return db


READER_MMAP_BYTES = 1 << 40  # SQLite caps it at its compile-time limit (SQLITE_MAX_MMAP_SIZE, ~2 GB by default)


def passage_from_row(row: sqlite3.Row) -> Passage:
    """A Passage record from a `passages_by_id` row."""
    return Passage(
        guid=row["guid"], key=row["key"], show=row["show"], episode=row["episode"], start=row["start"], end=row["end"],
        text=row["text"], source=row["source"], published=row["published"], audio_url=row["audio_url"],
        link=row["link"], first_segment=row["first_segment"], last_segment=row["last_segment"],
        flagged=bool(row["flagged"]), kind=row["kind"], language=row["language"],
    )
