"""Search latency of this tree against another revision's `index/search.py`, in one run, on one index.

Both versions search the same index (built by `bench/bench_search.py --dir DIR`) with the same queries,
interleaved query by query so machine load hits both alike. Query vectors are cached first (the
embedder's memo), so the figures are search without query embedding. Prints p50/p95 each and the ratio.

    .venv/bin/python -m bench.bench_search_ab --dir DIR [--base main] [--queries 200]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_base(rev: str):  # noqa: ANN201 - a module
    """`index/search.py` as it is at git revision `rev`, imported under another name."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:index/search.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="search-base-")) / "search_base.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("search_base", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_base"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="an index built by bench_search.py --dir")
    parser.add_argument("--base", default="main", help="git revision to compare against")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    from bench.bench_search import Corpus

    from podsearch.index import search as current
    from podsearch.index.embed import Embedder
    from podsearch.index.store import SearchIndex

    base = load_base(args.base)
    corpus = Corpus.make(7)
    queries = [corpus.query(int(corpus.rng.integers(256))) for _ in range(args.queries)]
    index = SearchIndex(args.dir, embedder=Embedder())
    print(f"{index.passage_count():,} passages; load {os.getloadavg()[0]:.2f}", flush=True)
    for q in queries[:20] + queries:  # warm up and fill the query-vector memo
        current.search(index, q, current.SearchOptions())
        base.search(index, q, base.SearchOptions())
    times: dict[str, list[float]] = {"base": [], "this": []}
    for n, q in enumerate(queries):
        order = [("base", base), ("this", current)] if n % 2 else [("this", current), ("base", base)]
        for name, module in order:
            t0 = time.perf_counter()
            module.search(index, q, module.SearchOptions())
            times[name].append((time.perf_counter() - t0) * 1000)
    index.close()

    def pct(xs: list[float], p: int) -> float:
        return statistics.quantiles(xs, n=100)[p - 1]

    for name in ("base", "this"):
        print(f"{name} ({args.base if name == 'base' else 'working tree'}): hybrid p50 {pct(times[name], 50):.1f} ms, "
              f"p95 {pct(times[name], 95):.1f} ms")
    print(f"ratio this/base: p50 {pct(times['this'], 50) / pct(times['base'], 50):.2f}, "
          f"p95 {pct(times['this'], 95) / pct(times['base'], 95):.2f}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
