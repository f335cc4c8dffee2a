"""A cold one-off `podsearch search` against `podsearch --version`: wall time and peak memory, in one run.

    .venv/bin/python -m bench.bench_cli [--home HOME] [--repeats 5] [--query TEXT]
        [--baseline-python ../main/.venv/bin/python [--baseline-home HOME2]]

Every measurement is a fresh process (python -m podsearch.cli ...), as a shell loop or script calls the
CLI: its wall time and its peak resident memory (the child's own ru_maxrss, from wait4). First one
search makes the query encoder's export (model cache: PODSEARCH_MODELS_DIR, a temporary folder unless
set), which later searches reuse; it is reported apart. The figure is the median search's time as a
multiple of the median `--version` (the cost of starting Python and the CLI at all). With
--baseline-python, the same searches run by another checkout's environment (for example the code
before a change) are printed beside, in the same run.

Without --home, the bundled demo podcast is ingested into a temporary home first (a minute or two).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process running `argv` to its end."""
    started = time.perf_counter()
    # Run outside any checkout: `python -m` puts the working folder first on the path.
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {child.stderr.read().decode(errors='replace') if child.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def measure(python: str, home: Path, query: str, repeats: int, env: dict[str, str]) -> dict[str, float]:
    """Median and best times and peak memory of `--version` and of a cold search, with `python`."""
    version = [python, "-m", "podsearch.cli", "--version"]
    search = [python, "-m", "podsearch.cli", "--home", str(home), "search", query, "-k", "1"]
    first, first_rss = timed(search, env)  # may export the query encoder
    runs = {"version": [timed(version, env) for _ in range(repeats)],
            "search": [timed(search, env) for _ in range(repeats)]}
    out = {"first_search_s": first, "first_search_rss_mb": first_rss}
    for name, values in runs.items():
        out[f"{name}_s"] = statistics.median(t for t, _ in values)
        out[f"{name}_best_s"] = min(t for t, _ in values)
        out[f"{name}_rss_mb"] = max(r for _, r in values)
    out["ratio"] = out["search_s"] / out["version_s"]
    return out


def demo_home(python: str, env: dict[str, str]) -> Path:
    """A temporary home with the bundled demo podcast ingested."""
    home = Path(tempfile.mkdtemp(prefix="bench-cli-")) / "home"
    subprocess.run([python, "-m", "podsearch.cli", "--home", str(home), "demo", "--no-app"], check=True, env=env,
                   stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    return home


def report(label: str, m: dict[str, float]) -> None:
    print(f"{label}:")
    print(f"  --version        median {m['version_s']:.2f} s (best {m['version_best_s']:.2f}), "
          f"peak {m['version_rss_mb']:.0f} MB")
    print(f"  search -k 1      median {m['search_s']:.2f} s (best {m['search_best_s']:.2f}), "
          f"peak {m['search_rss_mb']:.0f} MB  -> {m['ratio']:.1f}x --version")
    print(f"  first search     {m['first_search_s']:.2f} s, peak {m['first_search_rss_mb']:.0f} MB "
          "(makes the query encoder's export if the cache has none)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a home to search (default: the demo, ingested now)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--query", default="calming an angry relative")
    parser.add_argument("--baseline-python", help="another environment's python, measured the same way")
    parser.add_argument("--baseline-home", type=Path,
                        help="the home the baseline searches (default: --home; a copy made before this checkout "
                             "migrated it, when the baseline is older)")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("PODSEARCH_MODELS_DIR", tempfile.mkdtemp(prefix="bench-cli-models-"))
    home = args.home or demo_home(sys.executable, env)
    load = os.getloadavg()[0]
    this = measure(sys.executable, home, args.query, args.repeats, env)
    report(f"this checkout ({sys.executable})", this)
    if args.baseline_python:
        base = measure(args.baseline_python, args.baseline_home or home, args.query, args.repeats, env)
        report(f"baseline ({args.baseline_python})", base)
        print(f"cold search: {base['search_s'] / this['search_s']:.1f}x faster, "
              f"{base['search_rss_mb'] / this['search_rss_mb']:.1f}x less memory than the baseline")
    print(f"targets: search <= 6x --version ({this['ratio']:.1f}x), peak < 300 MB ({this['search_rss_mb']:.0f} MB); "
          f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
