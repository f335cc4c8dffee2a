"""The topic map: clusters of passages across the library, each labelled by its distinctive terms.

Passages of the conversation (no sponsor reads, intros, outros, publisher soundbites or flagged
stretches) are clustered with k-means (scikit-learn; mini-batch beyond DIRECT passages), as many topics as
the library has stretches of conversation (an episode's chapters, or the episode when it has none: each
is about one thing) up to MAX_TOPICS, topics whose centres nearly coincide joined. Topics of fewer than
MIN_PASSAGES passages are dropped. Labels come from class-based TF-IDF over each topic's text (scikit-learn's
CountVectorizer and TfidfTransformer): its most particular phrase, in a few words.

What is clustered is each passage's *topic vector*, not its bare sentence vector: the library's mean
vector is taken off (what every passage shares, the register of people talking, says nothing about the
topic and otherwise outweighs it), and the passage is read with its neighbours (CONTEXT either side, in
the same episode and chapter: a chapter is where one topic is talked about). A single passage of a
conversation is short and often generic ("how do you keep yourself safe?"); with its neighbours it says
what is being talked about, as a reader would take it.

A new episode's passages are assigned to the nearest existing topic (`assign`) when close enough; the map
is built again from scratch (`build`) on request, when none exists, or when too many new passages fit no
topic (drift).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from podsearch.transcripts.chapters import best_title, phrase_weights

MAX_TOPICS = 80  # at most this many topics
DIRECT = 3000  # up to this many passages, full k-means; beyond, mini-batch k-means on FIT_SAMPLE of them
FIT_SAMPLE = 20_000
SAME_TOPIC = 0.85  # topics whose centres are this similar (cosine) are joined
MIN_PASSAGES = 3  # a topic needs at least this many passages
CONTEXT = 1  # passages either side (same episode and chapter) a passage's topic is read with
ASSIGN_SIMILARITY = 0.45  # a new passage joins the nearest topic this similar (cosine of topic vectors), else waits
REDRAW = 2.0  # the map is drawn again from scratch once the library is this many times what it was drawn on
CLIPS = 20  # clips kept per topic, best first
LABEL_PASSAGES = 60  # passages nearest a topic's centre that its label is drawn from
CONTRAST_PASSAGES = 10  # of each existing topic, what a new topic's label is told apart from
TERMS = 6  # terms kept per topic
SEED = 0  # clustering is repeatable: the same library gives the same map


@dataclass(frozen=True)
class TopicClip:
    """A passage of a topic: where to play it and how close it is to the topic's centre."""

    passage_id: int
    score: float


@dataclass(frozen=True)
class Topic:
    """One topic of the map: its label, distinctive terms, and passages best first."""

    id: int
    label: str
    terms: tuple[str, ...]
    clips: tuple[TopicClip, ...]
    episodes: int


@dataclass(frozen=True)
class Passages:
    """The conversation's passages in episode order: ids, sentence vectors, texts, episode keys, and a
    number per (episode, chapter) stretch that a passage's neighbours must share to be its context."""

    ids: np.ndarray
    vecs: np.ndarray
    texts: list[str]
    keys: list[str]
    stretches: np.ndarray


def _passages(db: sqlite3.Connection, keys: list[str] | None = None) -> Passages:
    """The conversation's passages (all, or of the episodes `keys`), ordered by episode and time."""
    where = "p.kind = 'speech' AND p.flagged = 0"
    args: tuple = ()
    if keys is not None:
        where += f" AND p.key IN ({','.join('?' * len(keys))})"
        args = tuple(keys)
    # In the order of the episodes' own dates and guids, not their keys: a key hashes the feed's address, and
    # k-means' start depends on the order of its rows, so the same library must not map differently because
    # its feed was subscribed from another address.
    rows = db.execute(f"SELECT p.id, p.key, p.text, p.embedding, p.start, e.chapters FROM passages p"
                      f" LEFT JOIN episodes e ON e.key = p.key WHERE {where}"
                      f" ORDER BY e.published, e.guid, p.key, p.start, p.id", args).fetchall()
    if not rows:
        return Passages(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), [], [],
                        np.zeros(0, dtype=np.int64))
    vecs = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1)  # one copy
    starts: dict[str, list[float]] = {}
    stretches, last, number = [], None, -1
    for r in rows:
        if r[1] not in starts:
            starts[r[1]] = sorted(float(c.get("start", 0.0)) for c in json.loads(r[5] or "[]"))
        here = (r[1], bisect_right(starts[r[1]], r[4]))  # the chapter the passage starts in
        if here != last:
            number, last = number + 1, here
        stretches.append(number)
    return Passages(np.array([r[0] for r in rows], dtype=np.int64), vecs, [r[2] for r in rows],
                    [r[1] for r in rows], np.array(stretches, dtype=np.int64))


def topic_vectors(vecs: np.ndarray, stretches: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each passage's topic vector (unit length): its sentence vector less the library's `mean`, plus
    those of its CONTEXT neighbours either side in the same stretch (`stretches`: rows in episode order)."""
    centred = _unit(vecs) - mean
    out = centred.copy()
    for d in range(1, CONTEXT + 1):
        same = stretches[d:] == stretches[:-d]
        out[d:][same] += centred[:-d][same]
        out[:-d][same] += centred[d:][same]
    return _unit(out)


def _mean(db: sqlite3.Connection) -> np.ndarray | None:
    """The library mean the map's topic vectors were made with (None: no map of this kind yet)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'topics_mean'").fetchone()
    return np.frombuffer(base64.b64decode(row[0]), dtype=np.float32) if row else None


def _speech_count(db: sqlite3.Connection) -> int:
    """How many passages of the conversation (what the map clusters) the library has."""
    return int(db.execute("SELECT COUNT(*) FROM passages WHERE kind = 'speech' AND flagged = 0").fetchone()[0])


def _drawn_on(db: sqlite3.Connection) -> int | None:
    """How many passages the map was last drawn on (None: never drawn)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'topics_built_passages'").fetchone()
    return None if row is None else int(row[0])


def _unit(vecs: np.ndarray) -> np.ndarray:
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


def cluster(vecs: np.ndarray, stretches: int) -> np.ndarray:
    """A topic number per vector (-1: in no topic): k-means with one topic per stretch of conversation
    (chapter) at most (and at most MAX_TOPICS), topics whose centres nearly coincide joined, small ones
    dropped."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(vecs)
    if n < MIN_PASSAGES:
        return np.full(n, -1)
    vecs = _unit(vecs)
    k = int(max(1, min(MAX_TOPICS, stretches, n // MIN_PASSAGES)))
    if n <= DIRECT:
        model = KMeans(n_clusters=k, random_state=SEED, n_init=4).fit(vecs)
    else:  # big libraries: mini-batches (100k passages in seconds)
        # Fitted on a sample (k-means++ and every pass cost grows with n), then every passage to its nearest centre.
        sample = np.random.default_rng(SEED).choice(n, size=min(n, FIT_SAMPLE), replace=False)
        model = MiniBatchKMeans(n_clusters=k, random_state=SEED, n_init=1, batch_size=4096,
                                init_size=min(len(sample), 20 * k)).fit(vecs[sample])
        model.labels_ = np.concatenate([(vecs[i:i + 8192] @ _unit(model.cluster_centers_).T).argmax(axis=1)
                                        for i in range(0, n, 8192)])
    labels = model.labels_
    centres = _unit(model.cluster_centers_)
    # Two topics about the same thing (a long-running theme split in two) are one.
    same = centres @ centres.T
    parent = list(range(k))
    for a in range(k):
        for b in range(a + 1, k):
            if same[a, b] >= SAME_TOPIC:
                parent[b] = parent[a]
    labels = np.array(parent)[labels]
    sizes = np.bincount(labels, minlength=k)
    return np.where(sizes[labels] >= MIN_PASSAGES, labels, -1)


def labels(texts_by_topic: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """A short label and the distinctive terms of each topic's text: the label is the topic's most
    particular phrase of 2-6 words, picked as a generated chapter's title is (class-based TF-IDF over
    phrases, `transcripts.chapters`), no two alike; the terms its most particular words."""
    weights = phrase_weights(texts_by_topic)
    if weights is None:  # no words at all
        return [("", ())] * len(texts_by_topic)
    scores, vocab, surface = weights
    single = np.array([" " not in v for v in vocab])
    taken: set[str] = set()
    out = []
    for n in range(scores.shape[0]):
        row = scores[n].toarray().ravel()
        words = np.flatnonzero(single & (row > 0))
        terms = tuple(str(vocab[i]) for i in words[np.argsort(-row[words], kind="stable")][:TERMS])
        label = best_title(row, vocab, surface, taken) or " and ".join(terms[:2]).capitalize()
        taken.add(label.lower())
        out.append((label, terms))
    return out


def _drawn(unit: np.ndarray, numbers: np.ndarray, texts: list[str],
           others: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str, tuple[str, ...]]]:
    """The topics `numbers` gives (rows of `unit`, best first): their members, scores, centre, label and
    terms; labels are made particular against the texts of the `others` topics too (kept as they are)."""
    found, centres, scored = [], [], []
    for t in sorted(set(numbers.tolist()) - {-1}):
        where = np.flatnonzero(numbers == t)
        centre = _unit(unit[where].mean(axis=0, keepdims=True))[0]
        scores = unit[where] @ centre
        order = np.argsort(-scores)
        found.append(where[order])  # best first
        centres.append(centre)
        scored.append(scores[order])
    # Labels from the passages nearest each centre: they say what the topic is, and a big library stays fast.
    named = labels(others + [" ".join(texts[i] for i in where[:LABEL_PASSAGES]) for where in found])[len(others):] \
        if found else []
    return [(where, scores, centre, label, terms)
            for where, centre, scores, (label, terms) in zip(found, centres, scored, named) if label]


def build(db: sqlite3.Connection) -> int:
    """The map built from scratch over every passage; returns how many topics it has."""
    found = _passages(db)
    ids = found.ids
    mean: np.ndarray = (_unit(found.vecs).mean(axis=0) if len(ids) else np.zeros(0)).astype(np.float32)
    unit = topic_vectors(found.vecs, found.stretches, mean) if len(ids) else found.vecs
    numbers = cluster(unit, len(set(found.stretches.tolist()))) if len(ids) else np.zeros(0, dtype=int)
    rows: list[tuple[int, str, str, bytes, int]] = []
    members: list[tuple[int, int, float]] = []
    for where, scores, centre, label, terms in _drawn(unit, numbers, found.texts, []):
        topic_id = len(rows) + 1
        rows.append((topic_id, label, json.dumps(terms), centre.astype(np.float32).tobytes(), len(where)))
        members.extend(zip(ids[where].tolist(), [topic_id] * len(where), scores.tolist()))
    placed = {m[0] for m in members}
    # Every passage considered is recorded, in a topic or not (-1), so `assign` knows what is new.
    members.extend((i, -1, 0.0) for i in ids.tolist() if i not in placed)
    with db:
        db.execute("DELETE FROM topics")
        db.execute("DELETE FROM passage_topics")
        db.executemany("INSERT INTO topics(id, label, terms, centroid, size) VALUES (?,?,?,?,?)", rows)
        db.executemany("INSERT INTO passage_topics(passage_id, topic, score) VALUES (?,?,?)", members)
        db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                       [("topics_mean", base64.b64encode(mean.tobytes()).decode("ascii")),
                        ("topics_built_passages", str(len(ids)))])
    return len(rows)


def grow(db: sqlite3.Connection) -> int:
    """New topics drawn from the passages that fit no topic (a theme the map has not seen yet), the
    existing topics left as they are; returns how many were added."""
    loose = dict(db.execute("SELECT p.id, p.key FROM passage_topics t JOIN passages p ON p.id = t.passage_id"
                            " WHERE t.topic = -1 AND p.kind = 'speech' AND p.flagged = 0").fetchall())
    mean = _mean(db)
    if len(loose) < MIN_PASSAGES or mean is None:
        return 0
    found = _passages(db, sorted(set(loose.values())))
    pick = np.flatnonzero(np.isin(found.ids, list(loose)))
    unit = topic_vectors(found.vecs, found.stretches, mean)[pick]
    numbers = cluster(unit, len(set(found.stretches[pick].tolist())))
    others = [" ".join(r[0] for r in db.execute(
        "SELECT p.text FROM passage_topics t JOIN passages p ON p.id = t.passage_id WHERE t.topic = ?"
        " ORDER BY t.score DESC LIMIT ?", (topic_id, CONTRAST_PASSAGES)))
        for (topic_id,) in db.execute("SELECT id FROM topics ORDER BY id").fetchall()]
    drawn = _drawn(unit, numbers, [found.texts[i] for i in pick], others)
    first = (db.execute("SELECT MAX(id) FROM topics").fetchone()[0] or 0) + 1
    with db:
        for topic_id, (where, scores, centre, label, terms) in enumerate(drawn, start=first):
            db.execute("INSERT INTO topics(id, label, terms, centroid, size) VALUES (?,?,?,?,?)",
                       (topic_id, label, json.dumps(terms), centre.astype(np.float32).tobytes(), len(where)))
            db.executemany("UPDATE passage_topics SET topic = ?, score = ? WHERE passage_id = ?",
                           zip([topic_id] * len(where), scores.tolist(), found.ids[pick][where].tolist()))
    return len(drawn)


def outgrown(db: sqlite3.Connection) -> bool:
    """True once the library has REDRAW times the passages the map was drawn on: its mean and number
    of topics were fitted to a library that is no longer there (redrawing then keeps the cost of
    redrawing, spread over the passages added, constant)."""
    built = _drawn_on(db)
    return built is None or _speech_count(db) >= REDRAW * max(built, 1)


def assign(db: sqlite3.Connection) -> tuple[int, int]:
    """New passages (not yet considered) joined to their nearest topic when close enough; returns
    (passages seen, passages fitting no topic). Records of removed passages are dropped."""
    with db:
        db.execute("DELETE FROM passage_topics WHERE passage_id NOT IN (SELECT id FROM passages)")
    new = {r[0]: r[1] for r in db.execute("SELECT id, key FROM passages WHERE kind = 'speech' AND flagged = 0"
                                          " AND id NOT IN (SELECT passage_id FROM passage_topics)")}
    if not new:
        return 0, 0
    topics = db.execute("SELECT id, centroid FROM topics ORDER BY id").fetchall()
    mean = _mean(db)
    if not topics or mean is None:
        return len(new), len(new)
    centres = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in topics])
    # A new passage is read with its neighbours, as when the map was built: its episodes' passages are read.
    found = _passages(db, sorted(set(new.values())))
    fresh = np.flatnonzero(np.isin(found.ids, list(new)))
    sims = topic_vectors(found.vecs, found.stretches, mean)[fresh] @ centres.T
    best = sims.argmax(axis=1)
    rows = [(int(i), int(topics[b][0]) if sims[n, b] >= ASSIGN_SIMILARITY else -1, float(sims[n, b]))
            for n, (i, b) in enumerate(zip(found.ids[fresh], best))]
    with db:
        db.executemany("INSERT OR REPLACE INTO passage_topics(passage_id, topic, score) VALUES (?,?,?)", rows)
        for topic_id in {r[1] for r in rows if r[1] != -1}:
            db.execute("UPDATE topics SET size = (SELECT COUNT(*) FROM passage_topics WHERE topic = ?) WHERE id = ?",
                       (topic_id, topic_id))
    return len(rows), sum(1 for r in rows if r[1] == -1)


def needs_build(db: sqlite3.Connection) -> bool:
    """True when there is no map of topic vectors yet (none, or one drawn before they existed) and the
    library has passages enough for one (and none was tried on exactly these passages)."""
    if db.execute("SELECT COUNT(*) FROM topics").fetchone()[0]:
        return _mean(db) is None
    speech, tried = _speech_count(db), _drawn_on(db)
    return speech >= 2 * MIN_PASSAGES and tried != speech


def read(db: sqlite3.Connection, clips: int = CLIPS) -> list[Topic]:
    """Every topic, largest first, each with its best `clips` passages (nearest its centre)."""
    out = []
    for r in db.execute("SELECT id, label, terms FROM topics ORDER BY size DESC, id"):
        members = db.execute(
            "SELECT t.passage_id, t.score, p.key FROM passage_topics t JOIN passages p ON p.id = t.passage_id"
            " WHERE t.topic = ? ORDER BY t.score DESC", (r[0],)).fetchall()
        if len(members) < MIN_PASSAGES:
            continue
        out.append(Topic(id=r[0], label=r[1], terms=tuple(json.loads(r[2])),
                         clips=tuple(TopicClip(m[0], m[1]) for m in members[:clips]),
                         episodes=len({m[2] for m in members})))
    return out


__all__ = ["Passages", "Topic", "TopicClip", "assign", "build", "cluster", "grow", "labels", "needs_build", "outgrown",
           "read", "topic_vectors"]
