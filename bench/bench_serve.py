"""The JSON API under load: throughput and p50/p95 latency of GET /api/search at 1, 8 and 32 clients.

    .venv/bin/python -m bench.bench_serve [--dir HOME] [--passages 100000] [--levels 1 8 32] [--workers 1 2]
        [--baseline-python ../main/.venv/bin/python] [--client raw|httpx]

Builds (or, with --dir, reuses) a home of 100k synthetic passages with bench_search's builder (real
words with Zipf statistics, vectors clustered around real topic embeddings), saves its FAISS copy as
an ingest would, then starts the real `podsearch serve` in a subprocess on 127.0.0.1 and drives it
with clients in a closed loop (each sends its next request when the last is answered), every level
bounded by a request count and a time limit. Every request is a distinct query embedded by the real
model, as a new search would be. The baseline, measured in the same run: the same searches in this
process without HTTP (search() alone, one at a time). Figures are printed with the machine's load
average: the clients share the machine's cores with the server, and so do other processes.

The clients (`--client`): "raw" (default) is HTTP/1.1 over asyncio streams, one kept-alive connection
each, ~0.25 ms of CPU a request; "httpx" is httpx.AsyncClient, ~1.5 ms a request. Real clients run on
other machines, so the lighter one takes less of the server's two cores; each level prints the clients'
CPU per request and their share of the CPU the server and clients used together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench import bench_search  # the 100k builder lives there
from bench.common import load_average
from podsearch.core.config import load_settings
from podsearch.index.search import search
from podsearch.service.home import Home
from podsearch.service.models import Models
from podsearch.service.queries import search_options

TARGET_P95_MS = 250.0


def build_home(home: Path, passages: int, seed: int, models: Models) -> tuple[list[str], float]:
    """A home holding at least `passages` passages and its saved FAISS copy; (query pool, seconds)."""
    settings = load_settings(home)
    corpus = bench_search.Corpus.make(seed)
    started = time.perf_counter()
    with Home(settings, models).index() as ix:
        embedder = ix.embedder
        if ix.passage_count() < passages:
            centroids = embedder.encode([corpus.text(90, t) for t in range(bench_search.TOPICS)])
            bench_search.bulk_load(ix, corpus, centroids, passages, embedder.name)
        ix.faiss_index()  # built and saved here, as the writer would; the server only loads it
        print(f"home {home}: {ix.passage_count():,} passages, {type(ix.faiss_index()).__name__}, "
              f"ready in {time.perf_counter() - started:.0f} s", flush=True)
    queries = list(dict.fromkeys(corpus.query(int(corpus.rng.integers(bench_search.TOPICS))) for _ in range(20_000)))
    return queries, time.perf_counter() - started


def in_process_baseline(home: Path, queries: list[str], models: Models) -> list[float]:
    """ms per search() in this process, no HTTP, one at a time (query embedding included)."""
    settings = load_settings(home)
    with Home(settings, models).index(queries=lambda _notice: None) as ix:  # the query encoder, as a server
        options = search_options(settings, k=5)
        for q in queries[:5]:
            search(ix, q, options)  # warm
        times = []
        for q in queries[5:]:
            t0 = time.perf_counter()
            search(ix, q, options)
            times.append((time.perf_counter() - t0) * 1000)
        return times


def start_server(home: Path, port: int, readers: int | None, workers: int = 1,
                 python: str = sys.executable) -> subprocess.Popen:
    env = {**os.environ, "PODSEARCH_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    if readers:
        env["PODSEARCH_SERVE_READERS"] = str(readers)
    proc = subprocess.Popen([python, "-m", "podsearch.cli", "--home", str(home), "serve", "--port",
                             str(port), "--no-access-log", "--workers", str(workers)], env=env,
                            cwd=home,  # not a checkout: `python` imports podsearch from its own install
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit("the server did not start within 600 s")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` and its children (the workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` and its children (the workers), in MB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            total += next(int(line.split()[1]) for line in Path(f"/proc/{p}/status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def rollup_mb(pid: int, field: str) -> float:
    """One field of /proc/PID/smaps_rollup summed over process `pid` and its children, in MB. "Pss": pages
    several of them share (libraries, the index file each maps) counted once in all, where RSS counts them
    in each; "Anonymous": their own heaps, what the mapped index file (the OS's page cache) is not."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            total += next(int(line.split()[1]) for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
                          if line.startswith(field + ":"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []


async def drive(base: str, clients: int, queries: list[str], max_requests: int, max_seconds: float,
                kind: str = "raw") -> dict:
    """`clients` closed-loop clients until `max_requests` are answered or `max_seconds` pass.

    `kind`: "raw" (HTTP/1.1 over asyncio streams, one kept-alive connection per client) or "httpx".
    """
    if kind == "raw":
        return await drive_raw(base, clients, queries, max_requests, max_seconds)
    latencies: list[float] = []
    failures: list[str] = []
    it = iter(queries)
    sent = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        async def client() -> None:
            nonlocal sent
            while sent < max_requests and time.perf_counter() < deadline:
                sent += 1
                q = next(it)
                t0 = time.perf_counter()
                try:
                    r = await http.get("/api/search", params={"q": q, "k": 5})
                    ok = r.status_code == 200 and "hits" in r.json()
                    if not ok:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return level_figures(clients, latencies, failures, wall)


def level_figures(clients: int, latencies: list[float], failures: list[str], wall: float) -> dict:
    """One level's figures from its answered requests' latencies (ms), failures and wall seconds."""
    return {"clients": clients, "answered": len(latencies), "failed": len(failures), "seconds": wall,
            "rps": len(latencies) / wall if wall else 0.0, "p50": bench_search.pct(latencies, 50),
            "p95": bench_search.pct(latencies, 95), "examples": failures[:3]}


class RawClient:
    """One kept-alive HTTP/1.1 connection over asyncio streams: GET, then read a Content-Length body.

    A fraction of httpx's CPU per request: on a shared 2-core machine the clients' CPU is taken from the
    server, and real clients run on other machines.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        """(status, body) of GET `target`; reconnects once if the kept-alive connection was closed."""
        for attempt in (0, 1):
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            try:
                writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is None:
                    raise ConnectionError(f"no Content-Length in {head[:200]!r}")
                return status, await reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def drive_raw(base: str, clients: int, queries: list[str], max_requests: int, max_seconds: float) -> dict:
    """`drive` with RawClient connections."""
    url = httpx.URL(base)
    latencies: list[float] = []
    failures: list[str] = []
    it = iter(queries)
    sent = 0
    deadline = time.perf_counter() + max_seconds

    async def client() -> None:
        nonlocal sent
        conn = RawClient(url.host, url.port)
        try:
            while sent < max_requests and time.perf_counter() < deadline:
                sent += 1
                target = "/api/search?" + urlencode({"q": next(it), "k": 5})
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(conn.get(target), 60)
                    ok = status == 200 and "hits" in json.loads(body)
                    if not ok:
                        failures.append(f"{status} {body[:200]!r}")
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.close()
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return level_figures(clients, latencies, failures, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="home to build or reuse (default: a temp dir, removed)")
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--requests", type=int, default=600, help="at most this many requests per level")
    ap.add_argument("--seconds", type=float, default=60.0, help="at most this long per level")
    ap.add_argument("--baseline-queries", type=int, default=100)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server processes to compare")
    ap.add_argument("--readers", type=int, default=0, help="PODSEARCH_SERVE_READERS for the server (0: default)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw", help="the load generator (see above)")
    ap.add_argument("--baseline-python", metavar="PYTHON",
                    help="first serve the same home with this interpreter (another checkout's .venv/bin/python, "
                         "e.g. main's) at each --workers, for a before/after in one run")
    args = ap.parse_args(argv)

    print(f"cpus={os.cpu_count()} load={load_average()}", flush=True)
    tmp = None if args.dir else tempfile.TemporaryDirectory(prefix="podsearch-bench-serve-")
    home = args.dir or Path(tmp.name) / "home"
    models = Models()  # the sentence model, loaded once for building and the baseline
    queries, _ = build_home(home, args.passages, args.seed, models)
    configs = [("baseline", args.baseline_python, w) for w in args.workers] if args.baseline_python else []
    configs += [("this checkout", sys.executable, w) for w in args.workers]
    needed = args.baseline_queries + 5 + 40 + args.requests * len(args.levels) * len(configs)
    if len(queries) < needed:
        raise SystemExit(f"only {len(queries)} distinct queries for {needed} requests; lower --requests")
    base_q, queries = queries[: args.baseline_queries + 5], queries[args.baseline_queries + 5 :]
    baseline = in_process_baseline(home, base_q, models)
    print(f"baseline, search() in process, one at a time: p50 {bench_search.pct(baseline, 50):.1f} ms "
          f"p95 {bench_search.pct(baseline, 95):.1f} ms (load {load_average()})", flush=True)

    warm, queries = queries[:40], queries[40:]
    runs: dict[str, list[dict]] = {}
    for w, (label, python, workers) in enumerate(configs):
        port = free_port()
        server = start_server(home, port, args.readers or None, workers, python)
        base = f"http://127.0.0.1:{port}"
        name = f"{label}, {workers} worker(s)" if args.baseline_python else f"{workers} worker(s)"
        print(f"\n== server: {label} ({python}), {workers} worker process(es) ==", flush=True)
        try:
            asyncio.run(drive(base, 2 * workers, warm, 10 * workers, 120, args.client))  # warm every worker
            results = runs[name] = []
            for n, clients in enumerate(args.levels):
                first = (w * len(args.levels) + n) * args.requests
                chunk = queries[first : first + args.requests]
                cpu0, client0 = cpu_seconds(server.pid), time.process_time()
                res = asyncio.run(drive(base, clients, chunk, args.requests, args.seconds, args.client))
                # The server's own CPU per answer: what the machine's other load cannot inflate.
                res["cpu_ms"] = (cpu_seconds(server.pid) - cpu0) * 1000 / max(res["answered"], 1)
                res["client_ms"] = (time.process_time() - client0) * 1000 / max(res["answered"], 1)
                res["load"] = load_average()
                results.append(res)
                print(f"{clients:3d} clients: {res['answered']} answered in {res['seconds']:.1f} s = "
                      f"{res['rps']:.1f} req/s, p50 {res['p50']:.1f} ms, p95 {res['p95']:.1f} ms, "
                      f"{res['failed']} failed, server CPU {res['cpu_ms']:.1f} ms/request, clients' CPU "
                      f"{res['client_ms']:.2f} ms/request ({res['client_ms'] / (res['client_ms'] + res['cpu_ms']):.0%}) "
                      f"(load {res['load']})", flush=True)
                for example in res["examples"]:
                    print(f"    failure: {example}")
            print(f"server RSS {rss_mb(server.pid):.0f} MB, PSS {rollup_mb(server.pid, 'Pss'):.0f} MB, anonymous "
                  f"{rollup_mb(server.pid, 'Anonymous'):.0f} MB (all its processes; PSS counts shared pages once, "
                  "anonymous leaves out mapped files)", flush=True)
        finally:
            server.terminate()
            server.wait(30)
    first_name = next(iter(runs))
    one = runs[first_name][0]
    base_p50 = bench_search.pct(baseline, 50)
    print(f"\nratios: HTTP 1 client p50 / in-process p50 {one['p50'] / base_p50:.2f}; "
          f"per level, throughput / ({first_name}, 1 client), p95 / in-process p50, server CPU / ({first_name}, 1 client):")
    verdicts = []
    for name, results in runs.items():
        for res in results:
            print(f"  {name}, {res['clients']:3d} clients: throughput x{res['rps'] / one['rps']:.2f}, "
                  f"p95 x{res['p95'] / base_p50:.1f}, server CPU x{res['cpu_ms'] / one['cpu_ms']:.2f}")
        last = results[-1]
        ok = last["p95"] < TARGET_P95_MS and not any(r["failed"] for r in results)
        verdicts.append(f"{name}: {'ok' if ok else 'MISS'} (p95 {last['p95']:.1f} ms at "
                        f"{last['clients']} clients, failed {sum(r['failed'] for r in results)})")
    print(f"target: p95 < {TARGET_P95_MS:.0f} ms at the most clients and no failed request: " + "; ".join(verdicts)
          + f"; load {load_average()}")
    if tmp is not None:
        tmp.cleanup()
    return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
