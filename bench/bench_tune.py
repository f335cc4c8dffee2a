"""How long `podsearch tune` trains on a home: its pairs mined, then the training alone (into a temporary
folder; the home is not changed), with the load average around it (docs/tuning.md).

    nice -n 5 .venv/bin/python -m bench.bench_tune --home .devhomes/reallib [--max-pairs 1024]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from podsearch.core.config import DEFAULT_EMBED_MODEL, load_settings
from podsearch.index.embed import resolve_embed_model
from podsearch.index.tune import MAX_PAIRS, mine_pairs, train
from podsearch.transcripts.store import iter_transcript_files, load_transcript


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--max-pairs", type=int, default=MAX_PAIRS)
    args = parser.parse_args()
    settings = load_settings(args.home)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    t0 = time.perf_counter()
    pairs = mine_pairs((load_transcript(p) for p in iter_transcript_files(settings.transcripts_dir)),
                       limit=args.max_pairs)
    print(f"{len(pairs)} pairs ({dict(Counter(p.source for p in pairs))}) mined in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        steps, seconds = train(resolve_embed_model(DEFAULT_EMBED_MODEL), pairs, Path(tmp) / "model")
        total = time.perf_counter() - t0
    print(f"{steps} steps trained in {seconds:.0f} s ({seconds / max(steps, 1):.1f} s a step), "
          f"{total:.0f} s with loading and saving the model")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
