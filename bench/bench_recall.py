"""Recall against the oracle: the project beside a naive window search, on every dev set.

For each dev set, on the same transcripts, prints side by side (strict judge, `index.evaluate`):

- naive: the bundled MiniLM scoring every window of 1-3 consecutive transcript segments, a window
  overlapping a better one dropped, nothing else (`evaluate.naive_search`); always the bundled model,
  also when the home's index was embedded with a tuned one (`podsearch tune`, docs/tuning.md);
- project: hybrid search as a user is shown it (default floor);
- lost: answers naive has in its top 5 that the project does not (should be 0), and the union R@5,
  the figure to beat; then the project's median top-clip length and the off-topic queries given a clip.

Dev sets: conversations (tests/data/conversations, real Whisper), spoken (tests/data/eval, real
Whisper) and the real-transcript library (bench/data/reallib, publisher transcripts, no Whisper).
Each is built once in DIR/<set> and reused (`podsearch reindex` re-passages without transcribing).

    .venv/bin/python -m bench.bench_recall --homes DIR [--sets conversations spoken reallib] [--base REV] [--stored-vectors]

`--base REV` also measures that git revision's `index/search.py` on the same index (before and after).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from podsearch.core.config import DEFAULT_EMBED_MODEL, load_settings
from podsearch.index.evaluate import (format_oracle, load_offtopic, load_queries, naive_windows,
                                      oracle_report)
from podsearch.index.search import SearchOptions, search
from podsearch.service.models import Models
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
REALLIB = ROOT / "bench" / "data" / "reallib"


def ensure_feed(home: Path, feed: Path, models: Models) -> None:
    """Ingest `feed` into `home` unless it already holds indexed episodes."""
    settings = load_settings(home)
    if (settings.index_dir / "index.sqlite").is_file():
        return
    add_feed(settings, str(feed))
    t0 = time.perf_counter()
    report = ingest(settings, models=models)
    if report.episode_errors:
        raise SystemExit(f"ingest of {feed} failed: {report.episode_errors}")
    print(f"ingested {feed} in {time.perf_counter() - t0:.0f} s")


def ensure_reallib(home: Path, models: Models) -> None:
    """Index the real-transcript library's publisher transcripts into `home` (no Whisper)."""
    from bench.reallib import index_reallib

    index_reallib(home, models)


SETS = {
    "conversations": (DATA / "conversations" / "feed.xml", DATA / "conversations" / "queries.json",
                      DATA / "conversations" / "offtopic.json"),
    "spoken": (DATA / "eval" / "feed.xml", DATA / "eval" / "queries.json", None),
    "reallib": (None, REALLIB / "queries.json", REALLIB / "offtopic.json"),
}


def run_set(name: str, home: Path, models: Models, base=None, embed: bool = True) -> None:  # noqa: ANN001 - a search module
    """Build (once) and measure one dev set."""
    feed, queries_path, offtopic_path = SETS[name]
    if feed is None:
        ensure_reallib(home, models)
    else:
        ensure_feed(home, feed, models)
    queries = load_queries(queries_path)
    settings = load_settings(home)
    index = Home(settings, models).open_index()
    bundled = models.passage_encoder(DEFAULT_EMBED_MODEL, settings.models_dir)
    try:
        t0 = time.perf_counter()
        windows = naive_windows(index, home / "naive-windows.npz", embed=embed, embedder=bundled)
        built = time.perf_counter() - t0
        print(f"\n{name}: the index's sentence model is {index.embedder.name}")
        if base is not None:
            before = oracle_report(index, queries, windows, embedder=bundled,
                                   search_fn=lambda ix, q, o: base.search(ix, q, base.SearchOptions(k=o.k)))
            print(f"\n{format_oracle(before, name + ' [base: ' + base.REVISION + ']')}")
        report = oracle_report(index, queries, windows, embedder=bundled)
        how = "embedded" if embed else "summed from stored segment vectors"
        print(f"\n{format_oracle(report, name)}\n({len(windows.texts)} naive windows {how}, built/loaded in {built:.1f} s)")
        if offtopic_path is not None and offtopic_path.is_file():
            offtopic = load_offtopic(offtopic_path)
            shown = [q for q in offtopic if search(index, q, SearchOptions())]
            print(f"off-topic queries with no clip: {len(offtopic) - len(shown)} of {len(offtopic)}"
                  + (f"; clips for: {'; '.join(shown)}" if shown else ""))
    finally:
        index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=Path, required=True, help="folder keeping one home per dev set")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--base", help="also measure this git revision's index/search.py (before and after)")
    parser.add_argument("--stored-vectors", action="store_true",
                        help="naive windows from the segments' stored vectors, not each window's text embedded anew "
                             "(fast on a large library; exact for one-segment windows)")
    args = parser.parse_args()
    base = None
    if args.base:
        from bench.bench_search_ab import load_base

        base = load_base(args.base)
        base.REVISION = args.base
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    models = Models()
    for name in args.sets:
        run_set(name, args.homes / name, models, base, embed=not args.stored_vectors)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
