"""Generated chapters and the topic map, measured on the dev sets.

Chapters: the episodes of a set (tests/data/conversations, and the spoken set tests/data/eval) are cut to
their speech (the jingles before the first and after the last spoken region dropped, by the timings
files) and joined, with PyAV, into one long episode per set; it is ingested into a temporary home through
the real pipeline (Whisper tiny.en, speakers on) and its generated chapters are scored against the joins:
boundary precision, recall and F1 within +-15 s of a join (each join matched at most once), then Pk and
WindowDiff (nltk's, over 1-second units, k = half the mean reference segment). Every title is checked:
3-60 characters and distinct within the episode.

Topics: the same episodes ingested one by one (a library with one theme per episode); a topic's purity
is the share of its clips from its main episode; a theme "leads" a topic when it is the main episode of
a topic at least 80% pure (target: >= 75% of themes). Both sets.

Cost: the wall time of the joined ingest, and what the chapter step (annotate with chapters against
without) and the topic update take of it (target: <= 10% added), all in this run. And topics for
--passages synthetic passages (default 100,000) clustered from scratch (target: < 60 s); or, with
--index DIR, the topic map of that real index folder (its `index.sqlite`, e.g. .devhomes/bench100k)
drawn from scratch, then one episode's passages taken out and added back (the update after an ingest).

    .venv/bin/python -m bench.bench_chapters [--home DIR] [--passages 100000] [--sets conversations eval]
    .venv/bin/python -m bench.bench_chapters --sets --index .devhomes/bench100k
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from podsearch.core.config import load_settings
from podsearch.service.models import Models
from podsearch.service.pipeline import add_feed, ingest

ROOT = Path(__file__).resolve().parent.parent
SETS = {"conversations": ROOT / "tests" / "data" / "conversations", "eval": ROOT / "tests" / "data" / "eval"}
TOLERANCE = 15.0  # seconds either side of a join


def timings(folder: Path) -> list[dict]:
    """The timings files of a set, in file order."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "scripts").glob("*.timings.json"))]


def speech_span(t: dict) -> tuple[float, float]:
    """Where an episode's speech runs: the jingles before and after it are cut."""
    spoken = [r for r in t.get("regions") or t["sentences"] if r.get("kind") != "music"]
    return max(0.0, spoken[0]["start"] - 0.4), min(t["duration"], spoken[-1]["end"] + 0.4)


def _feed(folder: Path, title: str, items: list[tuple[str, str, Path]]) -> Path:
    body = "".join(f"<item><title>{name}</title><guid>{guid}</guid><pubDate>Mon, 0{n % 9 + 1} Jun 2026 06:00:00 +0000"
                   f'</pubDate><enclosure url="{path.name}" length="{path.stat().st_size}" type="audio/flac"/></item>'
                   for n, (guid, name, path) in enumerate(items))
    feed = folder / "feed.xml"
    feed.write_text(f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
                    f"<link>https://example.org/{title}</link><description>bench</description>{body}</channel></rss>",
                    encoding="utf-8")
    return feed


def joined_feed(name: str, folder: Path) -> tuple[Path, list[float]]:
    """A feed of one episode: the set's episodes cut to their speech and joined; and the join times."""
    from podsearch.ingest.audio import SAMPLE_RATE, decode_audio

    from tests.audiofiles import write_flac  # the tests' PyAV FLAC writer

    parts, joins, at = [], [], 0.0
    for t in timings(SETS[name]):
        start, end = speech_span(t)
        samples = decode_audio(SETS[name] / t["audio"])[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        if parts:
            joins.append(at)
        parts.append(samples)
        at += len(samples) / SAMPLE_RATE
    folder.mkdir(parents=True, exist_ok=True)
    path = write_flac(folder / f"{name}-joined.flac", np.concatenate(parts))
    return _feed(folder, f"{name}-joined", [(f"{name}-joined", f"{name} joined", path)]), joins


def separate_feed(name: str, folder: Path) -> tuple[Path, dict[str, str]]:
    """A feed of the set's episodes one by one (cut like the joined one); and each guid's theme (its stem)."""
    from podsearch.ingest.audio import SAMPLE_RATE, decode_audio

    from tests.audiofiles import write_flac

    folder.mkdir(parents=True, exist_ok=True)
    items, themes = [], {}
    for t in timings(SETS[name]):
        start, end = speech_span(t)
        stem = Path(t["audio"]).stem
        samples = decode_audio(SETS[name] / t["audio"])[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        items.append((t["guid"], t["title"], write_flac(folder / f"{stem}.flac", samples)))
        themes[t["guid"]] = stem
    return _feed(folder, f"{name}-separate", items), themes


def boundary_scores(found: list[float], joins: list[float], length: float) -> dict[str, float]:
    """Precision, recall and F1 of `found` boundaries against `joins` (+-TOLERANCE), Pk and WindowDiff."""
    from nltk.metrics.segmentation import pk, windowdiff

    free = list(joins)
    hits = 0
    for b in sorted(found):
        near = [j for j in free if abs(j - b) <= TOLERANCE]
        if near:
            free.remove(min(near, key=lambda j: abs(j - b)))
            hits += 1
    precision = hits / len(found) if found else 0.0
    recall = hits / len(joins) if joins else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def units(bounds: list[float]) -> str:
        marks = ["0"] * int(length)
        for b in bounds:
            if 0 < int(b) < len(marks):
                marks[int(b)] = "1"
        return "".join(marks)

    ref, hyp = units(joins), units(found)
    k = max(2, int(round(length / (len(joins) + 1) / 2)))
    return {"precision": precision, "recall": recall, "f1": f1, "pk": pk(ref, hyp, k=k),
            "windowdiff": windowdiff(ref, hyp, k)}


def ingest_feed(feed: Path, home: Path, models: Models) -> float:
    """Ingest `feed` into `home` (unless already done); the wall seconds it took (0 when reused)."""
    settings = load_settings(home)
    if any(settings.transcripts_dir.glob("*/*.json")):
        return 0.0
    add_feed(settings, str(feed))
    t0 = time.perf_counter()
    report = ingest(settings, models=models)
    if report.episode_errors:
        raise SystemExit(f"ingest failed: {report.episode_errors}")
    return time.perf_counter() - t0


def chapters_report(name: str, work: Path, models: Models) -> dict:
    """Boundary scores of the joined episode's generated chapters, its titles, and the chapter step's cost."""
    from dataclasses import replace

    from podsearch.transcripts.annotate import annotate
    from podsearch.transcripts.chapters import generate_chapters
    from podsearch.transcripts.store import iter_transcript_files, load_transcript

    feed, joins = joined_feed(name, work / name / "audio-joined")
    wall = ingest_feed(feed, work / name / "home-joined", models)
    settings = load_settings(work / name / "home-joined")
    transcript = load_transcript(next(iter_transcript_files(settings.transcripts_dir)))
    encode = models.encoder(settings.embed_model, settings.models_dir)
    encode(["warm-up"])
    t0 = time.perf_counter()
    plain = annotate(replace_chapters(transcript))
    t1 = time.perf_counter()
    made = annotate(replace_chapters(transcript), embed=encode)
    t2 = time.perf_counter()
    length = transcript.segments[-1].end
    scores = boundary_scores([c.start for c in made.chapters[1:]], joins, length)
    titles = [c.title for c in made.chapters]
    # The same boundaries from the text alone: every segment taken as conversation (no intro, outro or
    # sponsor read set apart), to tell what the segment kinds take away from what the text gives.
    bare = generate_chapters([replace(s, kind="speech") for s in made.segments], encode)
    text_only = boundary_scores([c.start for c in bare[1:]], joins, length)
    return {**scores, "text_only": text_only, "joins": len(joins), "chapters": len(made.chapters), "audio_s": transcript.duration or length,
            "titles_ok": all(3 <= len(t) <= 60 for t in titles) and len({t.lower() for t in titles}) == len(titles),
            "titles": titles, "ingest_s": wall, "chapters_s": (t2 - t1) - (t1 - t0), "plain": len(plain.chapters)}


def replace_chapters(transcript):  # noqa: ANN001, ANN201 - Transcript
    """The transcript without chapters (as Whisper leaves it)."""
    from dataclasses import replace

    return replace(transcript, chapters=())


def led_themes(topics: list[list[str]]) -> tuple[set[str], list[float]]:
    """The themes (episode keys) leading a topic at least 80% pure, and each topic's purity; `topics`: the
    episode key of each clip of each topic (topics of fewer than 3 clips are no topics)."""
    led: set[str] = set()
    purities = []
    for eps in topics:
        main = max(set(eps), key=eps.count)
        purities.append(eps.count(main) / len(eps))
        if purities[-1] >= 0.8:
            led.add(main)
    return led, purities


def baseline_led(db) -> int:  # noqa: ANN001 - sqlite3.Connection
    """Themes led by the map as first drawn (the baseline): k-means on the bare sentence vectors, one
    topic per episode, same joins and drops."""
    from podsearch.index import topics

    found = topics._passages(db)
    if not len(found.ids):
        return 0
    numbers = topics.cluster(found.vecs, len(set(found.keys)))
    return len(led_themes([[k for k, n in zip(found.keys, numbers) if n == t]
                           for t in set(numbers.tolist()) - {-1}])[0])


def topics_report(name: str, work: Path, models: Models) -> dict:
    """Purity of the topics of a library with one theme per episode, and what building them costs."""
    from podsearch.service.home import Home
    from podsearch.service.topics import refresh_topics, topic_map

    feed, themes = separate_feed(name, work / name / "audio-sep")
    wall = ingest_feed(feed, work / name / "home-sep", models)
    index = Home(load_settings(work / name / "home-sep"), models).open_index()
    try:
        t0 = time.perf_counter()
        refresh_topics(index, rebuild=True)
        build_s = time.perf_counter() - t0
        found = topic_map(index, clips=100_000)
        passages = index.db.execute("SELECT COUNT(*) FROM passages WHERE kind = 'speech'").fetchone()[0]
        baseline = baseline_led(index.db)
    finally:
        index.close()
    led, purities = led_themes([[c["key"] for c in topic["clips"]] for topic in found])
    return {"themes": len(themes), "led": len(led), "topics": len(found), "passages": passages,
            "purities": [(t["label"], len(t["clips"]), p) for t, p in zip(found, purities)],
            "build_s": build_s, "ingest_s": wall, "baseline": baseline}


def scale_report(n: int, dim: int = 384, themes: int = 200) -> float:
    """Seconds to build the topic map of `n` synthetic passages (vectors around `themes` centres, words
    drawn per theme) in a real index database."""
    from podsearch.index import topics
    from podsearch.index.store import SearchIndex

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(themes, dim)).astype(np.float32)
    words = [f"term{i}" for i in range(themes * 20)]
    folder = Path(tempfile.mkdtemp(prefix="bench-topics-"))
    try:
        index = SearchIndex(folder, embedder=None)
        theme = rng.integers(0, themes, size=n)
        vecs = centres[theme] + 0.8 * rng.normal(size=(n, dim)).astype(np.float32)
        rows = [(f"ep{t % 2000}", 0.0, 30.0, " ".join(rng.choice(words[t * 20:(t + 1) * 20], 40)), 0, 0, 0, "speech",
                 v.astype(np.float32).tobytes()) for t, v in zip(theme.tolist(), vecs)]
        with index.db:
            index.db.executemany("INSERT INTO episodes(key, guid, content_hash, show, episode, source) VALUES"
                                 " (?,?,'-','Show',?,'whisper')", [(f"ep{e}", f"ep{e}", f"Episode {e}") for e in range(2000)])
            index.db.executemany("INSERT INTO passages(key, start, end, text, first_segment, last_segment, flagged,"
                                 " kind, embedding) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        t0 = time.perf_counter()
        topics.build(index.db)
        seconds = time.perf_counter() - t0
        index.close()
        return seconds
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def index_report(folder: Path) -> dict:
    """Seconds to draw the topic map of the index in `folder` from scratch, and to bring it up to date
    after one episode is added (its passages taken out, the map drawn, the passages put back)."""
    from podsearch.index import topics
    from podsearch.index.store import SearchIndex
    from podsearch.service.topics import refresh_topics

    index = SearchIndex(folder, embedder=None)
    try:
        db = index.db
        passages = db.execute("SELECT COUNT(*) FROM passages WHERE kind = 'speech' AND flagged = 0").fetchone()[0]
        t0 = time.perf_counter()
        built = topics.build(db)
        build_s = time.perf_counter() - t0
        key = db.execute("SELECT key FROM passages GROUP BY key ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
        cols = [c[1] for c in db.execute("PRAGMA table_info(passages)")]
        saved = db.execute(f"SELECT {', '.join(cols)} FROM passages WHERE key = ?", (key,)).fetchall()
        with db:  # the episode leaves (passages only: the FTS and vectors are not read by the map) ...
            db.execute("DELETE FROM passages WHERE key = ?", (key,))
        topics.build(db)
        with db:  # ... and comes back, as an ingest adds it
            db.executemany(f"INSERT INTO passages({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", saved)
        t1 = time.perf_counter()
        how = refresh_topics(index)
        update_s = time.perf_counter() - t1
        topics.build(db)  # the folder is left with the map of all its passages
    finally:
        index.close()
    return {"passages": passages, "topics": built, "build_s": build_s, "update_s": update_s, "update": how,
            "episode_passages": len(saved)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a folder to keep (and reuse) the ingested homes in")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--passages", type=int, default=100_000, help="synthetic passages for the scale run (0: skip)")
    parser.add_argument("--index", type=Path, help="time the topic map of this real index folder instead of synthetic passages")
    args = parser.parse_args()
    work = args.home or Path(tempfile.mkdtemp(prefix="bench-chapters-"))
    models = Models()
    try:
        for name in args.sets:
            c = chapters_report(name, work, models)
            print(f"\n{name}: chapters of the joined episode ({c['audio_s']:.0f} s, {c['joins']} joins): "
                  f"{c['chapters']} chapters, boundary P {c['precision']:.2f} R {c['recall']:.2f} F1 {c['f1']:.2f} "
                  f"(+-{TOLERANCE:.0f} s), Pk {c['pk']:.3f}, WindowDiff {c['windowdiff']:.3f}; titles 3-60 chars and "
                  f"distinct: {'yes' if c['titles_ok'] else 'NO'}")
            print("  titles: " + " | ".join(c["titles"]))
            b = c["text_only"]
            print(f"  from the text alone (segment kinds ignored): boundary P {b['precision']:.2f} R {b['recall']:.2f} "
                  f"F1 {b['f1']:.2f}, Pk {b['pk']:.3f}")
            if c["ingest_s"]:
                print(f"  cost: ingest {c['ingest_s']:.1f} s wall, chapter step {c['chapters_s']:.2f} s "
                      f"({c['chapters_s'] / max(c['ingest_s'] - c['chapters_s'], 1e-9):.1%} added)")
            else:
                print(f"  cost: chapter step {c['chapters_s']:.2f} s (ingest reused: rerun without --home for the ratio)")
            t = topics_report(name, work, models)
            print(f"{name}: topics of {t['themes']} one-theme episodes ({t['passages']} passages): {t['topics']} topics, "
                  f"themes leading a topic >= 80% pure: {t['led']}/{t['themes']} ({t['led'] / t['themes']:.0%}; baseline, "
                  f"bare sentence vectors and one topic per episode: {t['baseline']}/{t['themes']}); "
                  f"built in {t['build_s']:.2f} s" + (f" (ingest {t['ingest_s']:.1f} s: "
                                                     f"{t['build_s'] / t['ingest_s']:.1%})" if t["ingest_s"] else ""))
            for label, size, purity in t["purities"]:
                print(f"  {label:<40} {size:>4} clips  purity {purity:.0%}")
        if args.index:
            r = index_report(args.index)
            print(f"\ntopics of {args.index} ({r['passages']:,} passages): drawn from scratch in {r['build_s']:.1f} s "
                  f"({r['topics']} topics); one episode ({r['episode_passages']} passages) added: map {r['update']} "
                  f"in {r['update_s']:.2f} s")
        elif args.passages:
            print(f"\ntopics of {args.passages:,} synthetic passages built in {scale_report(args.passages):.1f} s")
    finally:
        if args.home is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
