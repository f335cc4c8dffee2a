"""The topic map: clusters of passages across the library, each labelled by its distinctive terms.

Passages of the conversation (no sponsor reads, intros, outros, publisher soundbites or flagged
stretches) are clustered on their stored vectors with k-means (scikit-learn; mini-batch beyond DIRECT
passages), about one topic per episode up to MAX_TOPICS, topics whose centres nearly coincide joined. Topics of fewer than
MIN_PASSAGES passages are dropped. Labels come from class-based TF-IDF over each topic's text (scikit-learn's
CountVectorizer and TfidfTransformer): its most particular phrase, in a few words.

A new episode's passages are assigned to the nearest existing topic (`assign`) when close enough; the map
is built again from scratch (`build`) on request, when none exists, or when too many new passages fit no
topic (drift).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import numpy as np

from podsearch.transcripts.chapters import phrases, stopwords

MAX_TOPICS = 80  # at most this many topics
DIRECT = 3000  # up to this many passages, full k-means; beyond, mini-batch k-means on FIT_SAMPLE of them
FIT_SAMPLE = 20_000
SAME_TOPIC = 0.85  # topics whose centres are this similar (cosine) are joined
MIN_PASSAGES = 3  # a topic needs at least this many passages
ASSIGN_SIMILARITY = 0.35  # a new passage joins the nearest topic this similar (cosine), else waits
DRIFT = 0.5  # share of an update's new passages fitting no topic at which the map is built again
CLIPS = 20  # clips kept per topic, best first
LABEL_PASSAGES = 60  # passages nearest a topic's centre that its label is drawn from
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


def _passages(db: sqlite3.Connection, ids: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Ids, vectors, texts and episode keys of the conversation's passages (all, or of `ids`)."""
    where = "kind = 'speech' AND flagged = 0"
    args: tuple = ()
    if ids is not None:
        where += f" AND id IN ({','.join('?' * len(ids))})"
        args = tuple(ids)
    rows = db.execute(f"SELECT id, key, text, embedding FROM passages WHERE {where} ORDER BY id", args).fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), [], []
    vecs = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1)  # one copy
    return np.array([r[0] for r in rows], dtype=np.int64), vecs, [r[2] for r in rows], [r[1] for r in rows]


def _unit(vecs: np.ndarray) -> np.ndarray:
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


def cluster(vecs: np.ndarray, episodes: int) -> np.ndarray:
    """A topic number per vector (-1: in no topic): k-means with about one topic per episode (at most
    MAX_TOPICS), topics whose centres nearly coincide joined, small ones dropped."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(vecs)
    if n < 2 * MIN_PASSAGES:
        return np.full(n, -1)
    vecs = _unit(vecs)
    k = int(min(MAX_TOPICS, max(2, episodes), n // MIN_PASSAGES))
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
    """A short label and the distinctive terms of each topic's text (class-based TF-IDF)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    stop = stopwords()
    surface: dict[str, str] = {}

    def analyse(doc: str) -> list[str]:
        out = []
        for p in phrases(doc, stop, longest=2):
            low = p.lower()
            surface.setdefault(low, p)
            out.append(low)
        return out

    try:
        counts = CountVectorizer(analyzer=analyse, min_df=1)
        matrix = TfidfTransformer(sublinear_tf=True).fit_transform(counts.fit_transform(texts_by_topic))
    except ValueError:  # no words at all
        return [("", ())] * len(texts_by_topic)
    vocab = counts.get_feature_names_out()
    out = []
    for row in matrix:
        row = row.toarray().ravel()
        order = [i for i in np.argsort(-row) if row[i] > 0]
        terms = tuple(vocab[i] for i in order[:TERMS])
        pairs = [t for t in terms[:3] if " " in t and not all(w[:1].isupper() for w in surface[t].split())]
        if pairs:
            label = surface[pairs[0]]
        else:
            words = [t for t in terms if " " not in t][:2]
            label = " and ".join(words)
        out.append(((label[:1].upper() + label[1:]) if label else "", terms))
    return out


def build(db: sqlite3.Connection) -> int:
    """The map built from scratch over every passage; returns how many topics it has."""
    ids, vecs, texts, keys = _passages(db)
    numbers = cluster(vecs, len(set(keys))) if len(ids) else np.zeros(0, dtype=int)
    unit = _unit(vecs) if len(ids) else vecs
    found, centres, scored = [], [], []
    for t in sorted(set(numbers.tolist()) - {-1}):
        where = np.flatnonzero(numbers == t)
        centre = _unit(unit[where].mean(axis=0, keepdims=True))[0]
        scores = unit[where] @ centre
        found.append(where[np.argsort(-scores)])  # best first
        centres.append(centre)
        scored.append(np.sort(scores)[::-1])
    # Labels from the passages nearest each centre: they say what the topic is, and a big library stays fast.
    named = labels([" ".join(texts[i] for i in where[:LABEL_PASSAGES]) for where in found]) if found else []
    rows: list[tuple[int, str, str, bytes, int]] = []
    members: list[tuple[int, int, float]] = []
    for where, centre, scores, (label, terms) in zip(found, centres, scored, named):
        if not label:
            continue
        topic_id = len(rows) + 1
        rows.append((topic_id, label, json.dumps(terms), centre.astype(np.float32).tobytes(), len(where)))
        members.extend((int(ids[i]), topic_id, float(sc)) for i, sc in zip(where, scores))
    placed = {m[0] for m in members}
    # Every passage considered is recorded, in a topic or not (-1), so `assign` knows what is new.
    members.extend((int(i), -1, 0.0) for i in ids if int(i) not in placed)
    with db:
        db.execute("DELETE FROM topics")
        db.execute("DELETE FROM passage_topics")
        db.executemany("INSERT INTO topics(id, label, terms, centroid, size) VALUES (?,?,?,?,?)", rows)
        db.executemany("INSERT INTO passage_topics(passage_id, topic, score) VALUES (?,?,?)", members)
    return len(rows)


def assign(db: sqlite3.Connection) -> tuple[int, int]:
    """New passages (not yet considered) joined to their nearest topic when close enough; returns
    (passages seen, passages fitting no topic). Records of removed passages are dropped."""
    with db:
        db.execute("DELETE FROM passage_topics WHERE passage_id NOT IN (SELECT id FROM passages)")
    new = [r[0] for r in db.execute("SELECT id FROM passages WHERE kind = 'speech' AND flagged = 0 AND id NOT IN"
                                    " (SELECT passage_id FROM passage_topics)")]
    if not new:
        return 0, 0
    topics = db.execute("SELECT id, centroid FROM topics ORDER BY id").fetchall()
    if not topics:
        return len(new), len(new)
    centres = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in topics])
    ids, vecs, _, _ = _passages(db, new)
    sims = _unit(vecs) @ centres.T
    best = sims.argmax(axis=1)
    rows = [(int(i), int(topics[b][0]) if sims[n, b] >= ASSIGN_SIMILARITY else -1, float(sims[n, b]))
            for n, (i, b) in enumerate(zip(ids, best))]
    with db:
        db.executemany("INSERT OR REPLACE INTO passage_topics(passage_id, topic, score) VALUES (?,?,?)", rows)
        for topic_id in {r[1] for r in rows if r[1] != -1}:
            db.execute("UPDATE topics SET size = (SELECT COUNT(*) FROM passage_topics WHERE topic = ?) WHERE id = ?",
                       (topic_id, topic_id))
    return len(rows), sum(1 for r in rows if r[1] == -1)


def needs_build(db: sqlite3.Connection) -> bool:
    """True when there is no map yet and the library has passages enough for one (and none was tried
    on exactly these passages)."""
    if db.execute("SELECT COUNT(*) FROM topics").fetchone()[0]:
        return False
    speech = db.execute("SELECT COUNT(*) FROM passages WHERE kind = 'speech' AND flagged = 0").fetchone()[0]
    tried = db.execute("SELECT value FROM meta WHERE key = 'topics_built_passages'").fetchone()
    return speech >= 2 * MIN_PASSAGES and (tried is None or int(tried[0]) != speech)


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


__all__ = ["Topic", "TopicClip", "assign", "build", "cluster", "labels", "needs_build", "read"]
