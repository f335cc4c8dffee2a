"""Strict R@1/R@5/MRR (as shown) and off-topic clips per dev set, for values of one search constant or floor.

    .venv/bin/python -m bench.sweep_search --homes .devhomes --param PASSAGE_SHARE --values 0.1 0.2 0.3 0.4 0.5
    .venv/bin/python -m bench.sweep_search --homes .devhomes --param floor --values 0.30 0.33 0.35 0.38

`--param` names a module constant of `index/search.py` (set for the run, in this process only) or `floor`
(SearchOptions.floor). The dev homes are the ones bench_recall builds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.bench_recall import SETS
from podsearch.core.config import load_settings
from podsearch.index import search as S
from podsearch.index.evaluate import is_strictly_right, load_offtopic, load_queries
from podsearch.service.home import Home
from podsearch.service.models import Models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--param", required=True, help="a constant of index/search.py, or floor")
    parser.add_argument("--values", nargs="+", type=float, required=True)
    args = parser.parse_args()
    models = Models()
    for name in args.sets:
        _, queries_path, offtopic_path = SETS[name]
        index = Home(load_settings(args.homes / name), models).open_index()
        try:
            queries = load_queries(queries_path)
            offtopic = load_offtopic(offtopic_path) if offtopic_path else []
            vec = {q: index.embedder.encode([q])[0] for q in [x.query for x in queries] + offtopic}
            for value in args.values:
                options = S.SearchOptions(k=10)
                if args.param == "floor":
                    options = S.SearchOptions(k=10, floor=value)
                else:
                    setattr(S, args.param, value)
                r1 = r5 = mrr = 0.0
                for q in queries:
                    hits = S.search(index, q.query, options, qvec=vec[q.query])
                    rank = next((i for i, h in enumerate(hits, 1) if is_strictly_right(h, q)), None)
                    r1, r5, mrr = r1 + (rank == 1), r5 + bool(rank and rank <= 5), mrr + (1 / rank if rank else 0)
                shown = sum(bool(S.search(index, q, S.SearchOptions(floor=options.floor), qvec=vec[q])) for q in offtopic)
                n = len(queries)
                print(f"{name} {args.param}={value:g}: R@1 {r1 / n:.3f} R@5 {r5 / n:.3f} MRR {mrr / n:.3f}; "
                      f"off-topic with a clip {shown} of {len(offtopic)}", flush=True)
        finally:
            index.close()


if __name__ == "__main__":
    main()
