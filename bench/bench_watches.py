"""What watches (saved searches that alert) add to an ingest: 20 watches against none, in one run.

    .venv/bin/python -m bench.bench_watches [--library 20 80] [--new 5] [--watches 20] [--repeat 3] [--cues 120]

For each library size, a home is built from a local feed of `library` episodes with publisher transcripts
(VTT, ~120 cues each, so no Whisper: the figures are the watches' cost, not transcription's). Then `new`
episodes are published and the same ingest runs on two copies of that home, one with no watches and one
with `watches` watches (queries on the episodes' topics, some with a show filter or a minimum confidence):
the difference, per new episode, is what the watches cost; the watches' step inside the ingest
(`after_ingest`) is also timed on its own, the steadier figure on a busy machine. Every ingest embeds the
watches' queries afresh, as a new `podsearch ingest` process does.
Target: under 1 s per new episode. Since only the new episodes are searched, the cost should not grow with
the library (compare the sizes). Figures are printed with the load average: other processes inflate them.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from podsearch.core.config import load_settings
from podsearch.service.models import Models
from podsearch.service import watches
from podsearch.service.pipeline import add_feed, ingest
from podsearch.service.watches import watch_book

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>{show}</title><link>https://example.org/</link><description>Bench show.</description>
{items}
</channel></rss>"""
ITEM = """<item><title>{title}</title><guid>{guid}</guid><pubDate>{date}</pubDate>
<enclosure url="{base}/{guid}.flac" type="audio/flac" length="1"/>
<podcast:transcript url="{base}/{guid}.vtt" type="text/vtt" language="en"/></item>"""
TOPICS = {
    "de-escalation": ["When a relative is shouting, lower your voice and offer a quiet room.",
                      "Name the feeling you see before you explain the rules of the ward.",
                      "Keep your hands visible and stand at an angle, not face to face."],
    "discharge medicines": ["Go through every medicine at discharge with the patient and their carer.",
                            "A new blood thinner needs a clear plan for how long to take it.",
                            "Check the patient can open the bottles before they leave."],
    "anticoagulation": ["Warfarin doses change with vitamin K in leafy green vegetables.",
                        "Clopidogrel should not be stopped before surgery without the cardiologist.",
                        "Bring your yellow book to every anticoagulation appointment."],
    "handover": ["A structured handover names the risks first, then the plan.",
                 "Read back the key numbers so nothing is lost between shifts.",
                 "Say who is responsible for each open task at the end of the shift."],
    "sleep": ["Night shifts shift your body clock; protect the first sleep after them.",
              "Caffeine late in a shift keeps you awake when you finally get home.",
              "Dark curtains and a quiet room help daytime sleep."],
}
FILLER = ["Thank you for joining us today.", "That is a really good point.", "Let us move on to the next question.",
          "Many listeners wrote in about this.", "We will put the links in the show notes."]
QUERIES = ["calming an angry relative", "medicines at discharge", "stopping blood thinners before surgery",
           "vitamin K and warfarin", "safe handover between shifts", "sleeping after night shifts",
           "what to say to a shouting visitor", "carer help with pills at home", "yellow anticoagulation book",
           "reading back numbers at handover", "caffeine on night shift", "quiet room for an upset family",
           "how long to take a new anticoagulant", "risks first in a handover", "daytime sleep tips",
           "body language when someone is aggressive", "checking the patient can open bottles",
           "leafy greens and blood thinners", "responsibility for open tasks", "dark curtains for sleep"]


def vtt(rng: random.Random, topic: str, cues: int) -> str:
    """A transcript of `cues` 8-second cues: mostly the topic's sentences, some filler."""
    lines = [rng.choice(TOPICS[topic] if rng.random() < 0.6 else FILLER) for _ in range(cues)]
    return "WEBVTT\n\n" + "\n".join(f"{t // 60:02d}:{t % 60:02d}.000 --> {(t + 8) // 60:02d}:{(t + 8) % 60:02d}.000\n"
                                    f"<v Host>{line}\n" for t, line in ((8 * i, s) for i, s in enumerate(lines)))


def publish(folder: Path, count: int, new: int, cues: int) -> None:
    """Write the feed with `count` library episodes plus `new` ones (files under `folder`)."""
    rng = random.Random(7)
    items = []
    for n in range(count + new):
        guid = f"ep-{n}"
        topic = list(TOPICS)[n % len(TOPICS)]
        path = folder / f"{guid}.vtt"
        if not path.exists():
            path.write_text(vtt(rng, topic, cues), encoding="utf-8")
            (folder / f"{guid}.flac").write_bytes(b"")
        day = 1 + n % 28
        items.append(ITEM.format(title=f"{topic} {n}", guid=guid, base=folder.as_uri(),
                                 date=f"{['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][n % 7]}, "
                                      f"{day:02d} Mar 2026 09:00:00 GMT"))
    (folder / "feed.xml").write_text(FEED.format(show="Ward Talk", items="".join(items)), encoding="utf-8")


def add_watches(home: Path, count: int) -> None:
    with watch_book(load_settings(home)) as book:
        for i in range(count):
            book.add(QUERIES[i % len(QUERIES)], f"watch-{i}", show="Ward Talk" if i % 4 == 0 else None,
                     min_confidence=("strong", "partial", "weak")[i % 3])


class HookTimer:
    """Times every call of watches.after_ingest made inside an ingest (wall and CPU seconds of this process)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []
        self.original = watches.after_ingest

    def __enter__(self) -> "HookTimer":
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the hook's own signature
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.calls.append((time.perf_counter() - started, time.process_time() - cpu))

        watches.after_ingest = timed  # ingest_run imports it at each call
        return self

    def __exit__(self, *exc: object) -> None:
        watches.after_ingest = self.original


def timed_ingest(home: Path, models: Models) -> tuple[tuple[float, float], tuple[float, float]]:
    """((wall, CPU) of one ingest, (wall, CPU) of its watches step). CPU: this process, all threads."""
    # Each ingest embeds its watches' queries afresh, as a new `podsearch ingest` process would.
    models.embedder(load_settings(home).embed_model).encode_query.cache_clear()
    with HookTimer() as hook:
        started, cpu = time.perf_counter(), time.process_time()
        report = ingest(load_settings(home), models=models)
        total = (time.perf_counter() - started, time.process_time() - cpu)
    assert not report.episode_errors, report.episode_errors
    return total, hook.calls[-1]


def measure(tmp: Path, library: int, new: int, watch_count: int, repeat: int, cues: int, models: Models) -> dict:
    folder = tmp / f"feed-{library}"
    folder.mkdir()
    publish(folder, library, 0, cues)
    base = tmp / f"base-{library}"
    add_feed(load_settings(base), str(folder / "feed.xml"))
    ingest(load_settings(base), models=models)
    publish(folder, library, new, cues)
    without, with_, hook = [], [], []
    for r in range(repeat):
        plain, watched = tmp / f"plain-{library}-{r}", tmp / f"watched-{library}-{r}"
        shutil.copytree(base, plain)
        shutil.copytree(base, watched)
        add_watches(watched, watch_count)
        # Alternate which runs first, so a warm cache favours neither.
        for home in ((watched, plain) if r % 2 else (plain, watched)):
            total, step = timed_ingest(home, models)
            (with_ if home == watched else without).append(total)
            if home == watched:
                hook.append(step)
        with watch_book(load_settings(watched)) as book:
            entries = sum(w.entries for w in book.watches())
        shutil.rmtree(plain)
        shutil.rmtree(watched)

    def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    return {"library": library, "without": median(without), "with": median(with_), "hook": median(hook),
            "entries": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", type=int, nargs="+", default=[20, 80], help="library sizes (episodes)")
    parser.add_argument("--new", type=int, default=5, help="new episodes per ingest")
    parser.add_argument("--watches", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cues", type=int, default=120, help="8-second cues per episode (120: 16 minutes)")
    args = parser.parse_args()
    models = Models()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.new} new episodes of {args.cues} cues, "
          f"{args.watches} watches, median of {args.repeat}")
    print("seconds: wall / CPU of this process (CPU time is what a busy shared machine distorts least)")
    print(f"{'library':>8} {'no watches':>15} {'20 watches':>15} {'cost/new ep':>15} {'watch step':>15} "
          f"{'step/new ep':>15} {'entries':>8}".replace("20 watches", f"{args.watches} watches"))
    with tempfile.TemporaryDirectory(prefix="bench-watches-") as tmp:
        for size in args.library:
            m = measure(Path(tmp), size, args.new, args.watches, args.repeat, args.cues, models)
            cost = tuple((w - o) / args.new for w, o in zip(m["with"], m["without"]))
            per = tuple(h / args.new for h in m["hook"])
            cells = [f"{a:.2f} / {b:.2f}" for a, b in (m["without"], m["with"], cost, m["hook"], per)]
            print(f"{m['library']:>8} " + " ".join(f"{c:>15}" for c in cells) + f" {m['entries']:>8}")
    print(f"load average {os.getloadavg()[0]:.2f}; target: under 1 s per new episode")


if __name__ == "__main__":
    main()
