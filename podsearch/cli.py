"""The `podsearch` command line."""

from __future__ import annotations

import json
import os
import sys
from importlib.resources import files
from pathlib import Path

import click

from podsearch.core.clock import timestamp
from podsearch.transcripts.formats import WRITERS
from podsearch.core.config import ENGINES, Settings, load_settings, serve_processes
from podsearch.core.errors import PodsearchError, SettingError
from podsearch.core.terminal import clean, clean_json, clean_line
from podsearch.service.home import Home
from podsearch.service.models import Models
from podsearch.service.progress import Progress, Stage



def _shipped(package: str, name: str) -> Path:
    """A file that ships inside the installed package (the app's script, the demo podcast), wherever that is."""
    return Path(str(files(package).joinpath(name)))


DEMO_FEED = _shipped("podsearch.demo", "feed.xml")
DEMO_VOCABULARY = _shipped("podsearch.demo", "vocabulary.txt")
APP_FILE = _shipped("podsearch.webapp.entry", "app.py")


def _echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """click.echo for text that may carry feed text: every control made visible (core.terminal)."""
    click.echo(clean(text), err=err, nl=nl)


class _Group(click.Group):
    """Turns our errors into one line on stderr and a non-zero exit (2 for a setting it cannot take, as for a
    bad flag)."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except SettingError as exc:
            _echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except PodsearchError as exc:
            _echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            _echo("interrupted; run the same command again to resume where it stopped", err=True)
            ctx.exit(130)


def _home(ctx: click.Context, **overrides: object) -> Home:
    """This command's home, with `overrides` (its flags; None: not given) applied to its settings."""
    return ctx.obj.with_(**overrides) if overrides else ctx.obj


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    return _home(ctx, **overrides).settings


def _models(ctx: click.Context) -> Models:
    """This command's models (one process, one command: each loaded once)."""
    return ctx.obj.models


@click.group(cls=_Group)
@click.option("--home", type=click.Path(file_okay=False), envvar="PODSEARCH_HOME",
              help="Data home (default: the current directory). Env: PODSEARCH_HOME.")
@click.option("--allow-private", is_flag=True, default=None,
              help="Allow feeds and enclosures on private/loopback addresses. Env: PODSEARCH_ALLOW_PRIVATE=1.")
@click.version_option(package_name="podsearch")
@click.pass_context
def cli(ctx: click.Context, home: str | None, allow_private: bool | None) -> None:
    """Search podcast transcripts and jump to the moment something was said."""
    # A caller running several commands in one process (the tests) passes its Models as `obj` to share them.
    ctx.obj = Home(load_settings(home, allow_private=allow_private or None),
                   ctx.obj if isinstance(ctx.obj, Models) else None)


# -- feeds ----------------------------------------------------------------------
@cli.command()
@click.argument("target")
@click.option("--since", help="Only episodes published on/after this date (YYYY-MM-DD).")
@click.option("--limit", "--max-episodes", "limit", type=click.IntRange(min=1), help="Only the newest N episodes.")
@click.pass_context
def add(ctx: click.Context, target: str, since: str | None, limit: int | None) -> None:
    """Subscribe to a feed (URL or local file) and list its episodes."""
    from podsearch.service.subscriptions import add_feed

    show, count = add_feed(_settings(ctx), target, since=_iso_date(since), limit=limit)
    _echo(f"{show.title}: {count} episode{'s' if count != 1 else ''}")


def _iso_date(value: str | None) -> str | None:
    from podsearch.service.queries import iso_date

    return iso_date(value, "--since")


@cli.command("feed-info")
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed per line, in the order given.")
@click.pass_context
def feed_info_command(ctx: click.Context, sources: tuple[str, ...], as_json: bool) -> None:
    """Show what podsearch reads from feeds (URLs or files) without subscribing to them."""
    import json

    from podsearch.service.feedinfo import feed_info_or_error

    settings = _settings(ctx)
    failed = 0
    for source in sources:
        info = feed_info_or_error(settings, source)
        failed += "error" in info
        if as_json:
            click.echo(clean_json(json.dumps(info, ensure_ascii=False)))
        elif "error" in info:
            _echo(f"error: {info['error']}", err=True)
        else:
            _print_feed_info(info)
    if failed:
        ctx.exit(1)


def _print_feed_info(info: dict) -> None:
    show = info["show"]
    _echo(f"{show['title']}  <{info['url']}>")
    for key in ("link", "author", "language", "podcast_guid", "kind", "image"):
        if show.get(key):
            _echo(f"  {key}: {show[key]}")
    if show.get("license"):
        _echo(f"  license: {show['license']['name']}")
    for funding in show.get("funding") or ():
        _echo(f"  funding: {funding['url']} {funding['title']}".rstrip())
    for person in show.get("persons") or ():
        _echo(f"  person: {person['name']} ({person['role']})")
    if info.get("repaired"):
        _echo(f"  repaired: removed {info['repaired']} character(s) XML 1.0 forbids (ask the publisher to fix the feed)")
    _echo(f"  {len(info['episodes'])} episode(s) from {info['pages']} page(s)")
    for ep in info["episodes"]:
        numbering = "".join(f"{letter}{ep[k]}" for k, letter in (("season", "S"), ("number", "E")) if ep.get(k))
        _echo(f"- {ep['title']}" + (f" [{numbering}]" if numbering else ""))
        _echo(f"    guid: {ep['guid']}  published: {ep['published'] or '-'}  duration: "
                   f"{timestamp(ep['duration']) if ep['duration'] else '-'}")
        _echo(f"    enclosure: {ep['audio_url']} ({ep['audio_type'] or '?'}, {ep['audio_length'] or '?'} bytes)")
        for t in ep["transcripts"]:
            _echo(f"    transcript: {t['url']} ({t['type']})")
        if ep["chapters_url"]:
            _echo(f"    chapters: {ep['chapters_url']}")
        for c in ep["chapters"]:
            _echo(f"    chapter: {timestamp(c['start'])} {c['title']}")
        for p in ep["persons"]:
            _echo(f"    person: {p['name']} ({p['role']})")
        for b in ep["soundbites"]:
            _echo(f"    soundbite: {timestamp(b['start'])} +{b['duration']:g}s {b['title']}".rstrip())
    for error in info.get("page_errors") or ():
        _echo(f"  warning: {error}")


@cli.command("import-opml")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def import_opml(ctx: click.Context, file: str) -> None:
    """Subscribe to every feed listed in an OPML file."""
    from podsearch.ingest.opml import parse_opml
    from podsearch.service.subscriptions import add_feed

    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise PodsearchError(f"{file}: cannot read the OPML file ({exc.strerror})") from exc
    failures = 0
    for title, url in parse_opml(data):
        try:
            show, count = add_feed(_settings(ctx), url, listed_in=f"the OPML file {file}")
            _echo(f"{show.title}: {count} episodes")
        except PodsearchError as exc:
            failures += 1
            _echo(f"error: {title or url}: {exc}", err=True)
    if failures:
        ctx.exit(1)


@cli.command("export-opml")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.pass_context
def export_opml(ctx: click.Context, output: str | None) -> None:
    """Print the subscriptions as OPML."""
    from podsearch.ingest.opml import write_opml

    with _home(ctx).catalog() as library:
        text = write_opml([(f.title or f.url, f.url) for f in library.feeds()])
    _emit(text, output)


# -- ingest ---------------------------------------------------------------------
@cli.command()
@click.option("--limit", type=click.IntRange(min=1), help="Process at most N episodes this run.")
@click.option("--engine", type=click.Choice(ENGINES), help="Transcription engine (default faster-whisper).")
@click.option("--model", "model", help="Whisper model name or local path (default: bundled tiny.en).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where Whisper runs (default auto).")
@click.option("--vocabulary", type=click.Path(dir_okay=False, exists=True),
              help="File of domain terms, one per line, to help the recogniser.")
@click.option("--beam-size", type=click.IntRange(min=1), help="Beam width (default 1, greedy; 5 is slower, a little more accurate).")
@click.option("--batch-size", type=click.IntRange(min=1), help="30 s windows decoded at once by faster-whisper (default 8; 1 = one at a time).")
@click.option("--workers", type=click.IntRange(min=1), help="Episodes transcribed at once (default: suits the cores this process may use, 2 on 2 cores).")
@click.option("--max-download-bytes", type=click.IntRange(min=1), help="Size cap for one download.")
@click.option("--no-refresh", is_flag=True, help="Do not re-fetch feeds; only finish pending episodes.")
@click.option("--no-speakers", is_flag=True, help="Do not tell speakers apart (Whisper transcripts); faster.")
@click.option("--no-feed-vocabulary", is_flag=True,
              help="Do not give Whisper the names and terms of the feed (show title, host, guests, sponsor).")
@click.option("--redownload", "redownload", multiple=True, metavar="KEY|GUID",
              help="Download this episode again (drop its cached files), then transcribe and index it (repeatable).")
@click.option("--no-wait", is_flag=True, help="If another podsearch is writing to this home, exit instead of waiting.")
@click.option("--ray", "ray_address", metavar="auto|ADDRESS",
              help="Transcribe on a Ray cluster: auto (a running one, else one started here) or the head's "
                   "host:port (or ray://host:port). Needs pip install 'podsearch[ray]'.")
@click.option("--ray-workers", type=click.IntRange(min=1),
              help="Ray workers, each with its own model (default: one per GPU, else one per node).")
@click.pass_context
def ingest(ctx: click.Context, limit: int | None, engine: str | None, model: str | None, device: str | None,
           vocabulary: str | None, beam_size: int | None, batch_size: int | None, workers: int | None,
           max_download_bytes: int | None, no_refresh: bool, no_speakers: bool, no_feed_vocabulary: bool,
           redownload: tuple[str, ...],
           no_wait: bool, ray_address: str | None, ray_workers: int | None) -> None:
    """Refresh feeds, transcribe new episodes and index them (resumable)."""
    from contextlib import ExitStack

    from podsearch.service.ingest_run import ingest as run_ingest

    if ray_workers and not ray_address:
        raise PodsearchError("--ray-workers needs --ray auto (or the address of a Ray cluster)")
    settings = _settings(ctx, engine=engine, whisper_model=model, device=device, max_download_bytes=max_download_bytes,
                         beam_size=beam_size, batch_size=batch_size, transcribe_workers=workers,
                         speakers=False if no_speakers else None,
                         feed_vocabulary=False if no_feed_vocabulary else None)
    terms = tuple(t.strip() for t in Path(vocabulary).read_text(encoding="utf-8").splitlines() if t.strip()) if vocabulary else ()
    with _TqdmProgress() as progress, ExitStack() as stack:
        source = None
        if ray_address:
            from podsearch.service.distributed import RaySource  # Ray itself is imported only once work reaches it

            source = stack.enter_context(RaySource(settings, progress, terms, address=ray_address, workers=ray_workers))
        report = run_ingest(settings, limit=limit, refresh=not no_refresh, progress=progress, vocabulary=terms,
                            source=source, wait=not no_wait, redownload=redownload, models=_models(ctx))
    for _, message in report.feed_errors:
        _echo(f"error: {message}", err=True)
    for _, message in report.episode_errors:
        _echo(f"error: {message}", err=True)
    for _, message in report.held:  # not failures: waiting for a model of their language (docs/languages.md)
        _echo(f"held: {clean_line(message)}", err=True)
    _echo(f"indexed {len(report.indexed)} episode(s); {len(report.episode_errors)} failed; "
               f"{len(report.feed_errors)} feed(s) failed" + (f"; {len(report.held)} held" if report.held else ""))
    if report.feed_errors or report.episode_errors:
        ctx.exit(1)


class _TqdmProgress:
    """Shows pipeline progress: a tqdm bar per episode being transcribed, a line per episode indexed.

    Several episodes may be transcribed at once, and indexing of one overlaps
    transcription of the next, so bars are kept by episode title.
    """

    def __enter__(self) -> "_TqdmProgress":
        self.bars: dict[str, object] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        for title in list(self.bars):
            self._close(title)

    def _close(self, title: str) -> None:
        bar = self.bars.pop(title, None)
        if bar is not None:
            bar.close()

    def _write(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(clean(message), file=sys.stderr)

    def _bar(self, title: str, total: float, unit: str = "s audio"):  # noqa: ANN202 - tqdm
        from tqdm import tqdm

        if title not in self.bars:
            used = {getattr(b, "slot", 0) for b in self.bars.values()}
            position = next(i for i in range(len(used) + 1) if i not in used)
            self.bars[title] = tqdm(
                total=round(total, 1), desc=clean_line(title[:40]), unit=unit, file=sys.stderr, position=position,
                leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} " + unit
                                        + " [{elapsed}<{remaining}]")
            self.bars[title].slot = position
        return self.bars[title]

    def __call__(self, p: Progress) -> None:
        if p.stage in (Stage.FEED_FAILED, Stage.EPISODE_FAILED, Stage.EPISODE_HELD):
            self._close(p.title)  # the command lists every failure once, as an error, when it ends
        elif p.stage == Stage.WARNING:
            self._write(f"warning: {p.message}")
        elif p.stage == Stage.WAITING:
            self._write(p.message or "")
        elif p.stage == Stage.REDOWNLOAD:
            self._write(f"downloading again: {p.title}")
        elif p.stage == Stage.TRANSCRIBE:
            if not p.total:
                return  # length not known yet (a Ray worker has not decoded the audio yet)
            bar = self._bar(p.title, p.total)
            bar.total = round(p.total, 1)  # the feed's duration first, the decoded length later
            bar.n = round(min(p.done, p.total), 1)
            bar.refresh()
        elif p.stage == Stage.EMBED and p.total:
            # Only long episodes report while embedding; the bar for their audio has finished.
            key = f"{p.title} (embedding)"
            bar = self._bar(key, p.total, unit="texts")
            bar.n = p.done
            bar.refresh()
            if p.done >= p.total:
                self._close(key)
        elif p.stage == Stage.EPISODE_DONE:
            bar = self.bars.get(p.title)
            if bar is not None:
                bar.n = bar.total
                bar.refresh()
                self._close(p.title)
            self._write(f"indexed: {p.title}")


@cli.command()
@click.option("--no-wait", is_flag=True, help="If another podsearch is writing to this home, exit instead of waiting.")
@click.pass_context
def reindex(ctx: click.Context, no_wait: bool) -> None:
    """Rebuild the search index from the transcript files."""
    from podsearch.service.reindex import reindex as run_reindex

    def waiting(p: Progress) -> None:
        if p.stage == Stage.WAITING:
            _echo(p.message, err=True)

    count = run_reindex(_settings(ctx), waiting, wait=not no_wait, models=_models(ctx))
    _echo(f"re-indexed {count} transcript(s)")


@cli.command()
@click.option("--reset", is_flag=True, help="Go back to the bundled sentence model (the index is rebuilt with it).")
@click.option("--max-pairs", type=click.IntRange(32), help="Train on this many pairs at most (a step per 32; default 1024).")
@click.option("--no-wait", is_flag=True, help="If another podsearch is writing to this home, exit instead of waiting.")
@click.pass_context
def tune(ctx: click.Context, reset: bool, max_pairs: int | None, no_wait: bool) -> None:
    """Adapt the sentence model to this home's transcripts (no labels, a few minutes), then rebuild the index
    with it (docs/tuning.md)."""
    from tqdm import tqdm

    from podsearch.service.tune import reset as reset_model
    from podsearch.service.tune import tune as run_tune

    bars: dict[Stage, tqdm] = {}

    def show(p: Progress) -> None:
        if p.stage == Stage.WAITING:
            tqdm.write(clean(p.message or ""), file=sys.stderr)
        elif p.stage in (Stage.TUNE, Stage.INDEX) and p.total:
            if p.stage not in bars:
                for bar in bars.values():
                    bar.close()
                bars[p.stage] = tqdm(total=p.total, desc="tuning" if p.stage == Stage.TUNE else "re-indexing",
                                     unit="step" if p.stage == Stage.TUNE else "file", file=sys.stderr)
            bars[p.stage].n = p.done if p.stage == Stage.TUNE else p.done + 1  # reindex says which file it starts
            bars[p.stage].refresh()

    try:
        if reset:
            count = reset_model(_settings(ctx), show, _models(ctx), wait=not no_wait)
        else:
            report = run_tune(_settings(ctx), show, _models(ctx), max_pairs=max_pairs, wait=not no_wait)
    finally:
        for bar in bars.values():
            bar.close()
    if reset:
        _echo("this home has no tuned sentence model; it uses the bundled one" if count is None
              else f"back to the bundled sentence model; re-indexed {count} transcript(s) with it")
        return
    mined = ", ".join(f"{n} {source}" for source, n in sorted(report.sources.items()))
    _echo(f"tuned the sentence model on {report.pairs} pairs ({mined}) in {report.steps} steps, {report.seconds:.0f} s; "
          f"re-indexed {report.reindexed} transcript(s) with it ({report.name})")


@cli.command()
@click.option("--keys", is_flag=True, help="Also show each episode's key (what `export` takes).")
@click.pass_context
def status(ctx: click.Context, keys: bool) -> None:
    """List feeds and episodes with their status and any error."""
    from podsearch.service.homes import NO_EPISODES, has_catalog, require_home

    settings = _settings(ctx)
    require_home(settings)  # a read command never creates a home
    if not has_catalog(settings):
        _echo(NO_EPISODES)
        return
    with _home(ctx).catalog() as library:
        feeds = library.feeds()
        if not feeds:
            _echo(NO_EPISODES)
        for feed in feeds:
            # Feed text one line per field: a newline in a title must not forge a line.
            _echo(f"{clean_line(feed.title or feed.url)}  [{feed.status}]  {clean_line(feed.url)}")
            if feed.error:
                _echo(f"  error: {clean_line(feed.error)}")
            for row in library.episodes(feed_id=feed.id):
                date = clean_line((row.episode.published or "")[:10])
                line = f"  {row.status:<11} {date:<10} " + (f"{row.episode.key}  " if keys else "") + clean_line(row.episode.title)
                _echo(line + (f"  ({clean_line(row.error)})" if row.error else ""))
    from podsearch.service.watches import delivery_problems

    for problem in delivery_problems(_settings(ctx)):
        _echo(clean_line(problem))


# -- search ---------------------------------------------------------------------
@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(min=1, max=100), default=5, show_default=True, help="Number of clips (1-100).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array per query).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "keyword"]), default="hybrid", show_default=True)
@click.option("--show", "shows", multiple=True, help="Only this show (repeatable).")
@click.option("--source", "sources", multiple=True, type=click.Choice(["whisper", "publisher"]))
@click.option("--from", "date_from", help="Published on/after YYYY-MM-DD.")
@click.option("--to", "date_to", help="Published on/before YYYY-MM-DD.")
@click.option("--person", help="Only where this person takes part (podcast:person) or speaks.")
@click.option("--speaker", help="Only clips where this speaker (a name or label like 'Speaker 2') speaks.")
@click.option("--per-episode", type=click.IntRange(min=1), help="At most N clips per episode (1 groups by episode).")
@click.option("--include-ads", is_flag=True, help="Also search sponsor reads (left out by default).")
@click.option("--rerank", "rerank_model", envvar="PODSEARCH_RERANK_MODEL",
              help="Re-order the top results with this cross-encoder (name or local path; none is bundled).")
@click.pass_context
def search(ctx: click.Context, query: str, k: int, as_json: bool, mode: str, shows: tuple[str, ...],
           sources: tuple[str, ...], date_from: str | None, date_to: str | None, person: str | None,
           speaker: str | None, per_episode: int | None, include_ads: bool, rerank_model: str | None) -> None:
    """Find clips. QUERY '-' reads one query per line from stdin."""
    from podsearch.core.errors import QueryError
    from podsearch.index.search import check_query
    from podsearch.index.search import search as run_search
    from podsearch.service.homes import empty_reason, has_index, require_home
    from podsearch.service.queries import hit_json, search_options

    home = _home(ctx)
    settings = home.settings
    options = search_options(settings, k=k, mode=mode, shows=shows, sources=sources, date_from=date_from,
                             date_to=date_to, person=person, speaker=speaker, per_episode=per_episode,
                             rerank_model=rerank_model, include_ads=include_ads,
                             names={"k": "-k", "from": "--from", "to": "--to", "per_episode": "--per-episode"})
    require_home(settings)  # a read command never creates a home
    index = home.open_index(queries=lambda line: _echo(line, err=True)) if has_index(settings) else None
    # Nothing to search is said as such, never as "nothing relevant found".
    empty = empty_reason(settings, index.passage_count() if index is not None else None)
    if empty and as_json:
        _echo(f"note: {empty}", err=True)
    try:
        queries = (line.rstrip("\n") for line in sys.stdin) if query == "-" else iter([query])
        for q in queries:
            try:
                if index is None or empty:
                    check_query(q, options)  # a bad query is still said as such
                    hits = []
                else:
                    hits = run_search(index, q, options)
            except QueryError as exc:
                if query != "-":
                    raise
                _echo(f"error: {exc}", err=True)
                hits = []
            if as_json:
                click.echo(clean_json(json.dumps([hit_json(h) for h in hits], ensure_ascii=False)))
            else:
                _print_hits(q, hits, empty)
            sys.stdout.flush()
    finally:
        if index is not None:
            index.close()


def _print_hits(query: str, hits: list, empty: str | None = None) -> None:
    if not hits:
        _echo(empty or f"nothing relevant found for {clean_line(query)!r}")
        return
    for i, h in enumerate(hits, 1):
        said_by = f"  {clean_line(h.speaker)}" if h.speaker else ""
        kind = f"  [{h.kind}]" if h.kind != "speech" else ""
        _echo(f"{i}. {clean_line(h.show)} — {clean_line(h.episode)} ({clean_line(h.published or 'undated')})  "
              f"{timestamp(h.start)}–{timestamp(h.end)}{said_by}  {h.confidence}{kind}  [{h.source}]")
        _echo(f"   “{clean_line(h.text)}”")
        if h.audio_url:
            _echo(f"   {clean_line(h.audio_url)}#t={h.start:.1f}")


@cli.command("eval")
@click.argument("queries_file", type=click.Path(dir_okay=False))
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--by-kind", is_flag=True, help="Also break the figures down by query kind.")
@click.option("--strict", is_flag=True,
              help="Strict judge (R@1, R@5, MRR): right episode, more than half overlap, the clip starts at most "
                   "5 s before the answer or at its question; plus sponsor reads on top and off-topic clips.")
@click.option("--offtopic", "offtopic_file", type=click.Path(dir_okay=False),
              help="With --strict: JSON list of queries that should get no clip "
                   "(default: offtopic.json next to QUERIES_FILE, if there).")
@click.option("--timings", "timings_dir", type=click.Path(file_okay=False),
              help="With --strict: folder of *.timings.json marking the true sponsor reads "
                   "(default: scripts/ next to QUERIES_FILE, if there).")
@click.pass_context
def eval_command(ctx: click.Context, queries_file: str, k: int, by_kind: bool, strict: bool,
                 offtopic_file: str | None, timings_dir: str | None) -> None:
    """Measure search quality: Recall@1/5/10, MRR and nDCG@10 per mode (--strict: the strict judge)."""
    from podsearch.index.evaluate import (MODES, by_kind as split_by_kind, format_strict, format_table,
                                          load_offtopic, load_queries, load_sponsor_ranges, relevance_lists,
                                          strict_report, summarize)

    queries = load_queries(Path(queries_file))
    if strict:
        beside = Path(queries_file).parent
        offtopic_path = Path(offtopic_file) if offtopic_file else beside / "offtopic.json"
        offtopic = load_offtopic(offtopic_path) if offtopic_file or offtopic_path.is_file() else []
        timings_path = Path(timings_dir) if timings_dir else beside / "scripts"
        if timings_dir and not timings_path.is_dir():
            raise PodsearchError(f"--timings {timings_dir} is not a folder; give the folder of *.timings.json files")
        sponsors = load_sponsor_ranges(timings_path) if timings_path.is_dir() else {}
    with _home(ctx).index() as index:
        if strict:
            report = strict_report(index, queries, offtopic, sponsors, MODES, k)
        else:
            lists = relevance_lists(index, queries, MODES, k)
    if strict:
        _echo(format_strict(report, len(queries)))
        return
    _echo(format_table({mode: summarize(rels, k) for mode, rels in lists.items()},
                            title=f"{len(queries)} queries from {queries_file}"))
    if by_kind:
        for kind, results in split_by_kind(queries, lists, k).items():
            _echo()
            _echo(format_table(results, title=f"kind: {kind or '(none)'}"))


# -- export -----------------------------------------------------------------------
@cli.command("rename-speaker")
@click.argument("guid")
@click.argument("shown")
@click.argument("name")
@click.pass_context
def rename_speaker(ctx: click.Context, guid: str, shown: str, name: str) -> None:
    """Call speaker SHOWN (e.g. 'Speaker 2') of episode GUID NAME from now on."""
    from podsearch.service.speakers import rename_speaker as run_rename

    count = run_rename(_settings(ctx), guid, shown, name, models=_models(ctx))
    _echo(f"{shown} is now {name} ({count} segment(s))")


@cli.command()
@click.argument("guids", nargs=-1)
@click.pass_context
def diarize(ctx: click.Context, guids: tuple[str, ...]) -> None:
    """Label who speaks in ingested episodes (all, or GUIDs) from their audio, without transcribing again."""
    from podsearch.service.speakers import diarize as run_diarize

    with _TqdmProgress() as progress:
        done = run_diarize(_settings(ctx), guids, progress, models=_models(ctx))
    _echo(f"speakers labelled in {len(done)} episode(s)")


@cli.command()
@click.argument("episode", metavar="KEY|GUID")
@click.option("--format", "fmt", type=click.Choice(list(WRITERS)), default="vtt",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.pass_context
def export(ctx: click.Context, episode: str, fmt: str, output: str | None) -> None:
    """Export one episode's transcript (by key, or by guid when only one show uses it)."""
    from podsearch.service.homes import NO_EPISODES, has_catalog, require_home
    from podsearch.transcripts.formats import write_transcript
    from podsearch.transcripts.store import load_transcript

    require_home(_settings(ctx))  # a read command never creates a home
    if not has_catalog(_settings(ctx)):
        raise PodsearchError(f"{episode}: {NO_EPISODES}")
    _emit(write_transcript(load_transcript(_home(ctx).transcript(episode)), fmt), output,
          is_json="json" in WRITERS[fmt].media_type)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the map as JSON.")
@click.option("--show", help="Only this show's clips (its title).")
@click.option("--rebuild", is_flag=True, help="Build the map from scratch first.")
@click.pass_context
def topics(ctx: click.Context, as_json: bool, show: str | None, rebuild: bool) -> None:
    """The library's topics: clusters of passages across episodes, each with its best clips."""
    from podsearch.core.clock import timestamp
    from podsearch.service.topics import library_topics

    found = library_topics(_settings(ctx), show=show, rebuild=rebuild, models=_models(ctx))
    if as_json:
        click.echo(clean_json(json.dumps(found, ensure_ascii=False)))
        return
    if not found:
        _echo("no topics yet: ingest a few episodes first" + (f" (or check the show name {show!r})" if show else ""))
    for topic in found:
        _echo(f"{topic['label']}  ({topic['episodes']} episode(s); {', '.join(topic['terms'])})")
        for clip in topic["clips"][:5]:
            _echo(f"    {timestamp(clip['start'])}  {clip['show']} / {clip['episode']}  [{clip['key']}]")


def _emit(text: str, output: str | None, *, is_json: bool = False) -> None:
    if output:
        from podsearch.transcripts.store import atomic_write

        atomic_write(Path(output), text.encode("utf-8"))
    elif is_json:
        click.echo(clean_json(text), nl=not text.endswith("\n"))
    else:
        _echo(text, nl=not text.endswith("\n"))


# -- watches (saved searches that alert) ----------------------------------------------
@cli.group("watch")
def watch_group() -> None:
    """Saved searches that report clips of newly ingested episodes (Atom feed, webhook)."""


@watch_group.command("add")
@click.argument("query")
@click.option("--name", required=True, help="What to call the watch (its feed is `watch feed NAME`).")
@click.option("--show", help="Only this show.")
@click.option("--speaker", help="Only clips where this speaker (a name or label like 'Speaker 2') speaks.")
@click.option("--min-confidence", type=click.Choice(["strong", "partial", "weak"]), default="partial",
              show_default=True, help="The weakest match reported.")
@click.option("--webhook", metavar="URL", help="POST each new clip here as JSON (private addresses need --allow-private).")
@click.pass_context
def watch_add(ctx: click.Context, query: str, name: str, show: str | None, speaker: str | None,
              min_confidence: str, webhook: str | None) -> None:
    """Watch for QUERY in episodes ingested from now on."""
    from podsearch.service.watches import watch_book

    with watch_book(_settings(ctx)) as book:
        watch = book.add(query, name, show=show, speaker=speaker, min_confidence=min_confidence, webhook=webhook)
    _echo(f"watching {clean_line(watch.query)!r} as {clean_line(watch.name)!r}; new episodes are checked at each ingest")


@watch_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of the watches.")
@click.pass_context
def watch_list(ctx: click.Context, as_json: bool) -> None:
    """List watches: query, filters, entries, new since last read, webhook state."""
    from podsearch.service.watches import watch_book

    with watch_book(_settings(ctx)) as book:
        watches = book.watches()
    if as_json:
        click.echo(clean_json(json.dumps([w.to_json() for w in watches], ensure_ascii=False)))
        return
    if not watches:
        _echo("no watches yet; add one with `podsearch watch add QUERY --name NAME`")
    for w in watches:
        filters = "".join(f"  {label}: {clean_line(v)}" for label, v in (("show", w.show), ("speaker", w.speaker)) if v)
        _echo(f"{clean_line(w.name)}: {clean_line(w.query)!r}  min {w.min_confidence}{filters}  "
              f"{w.entries} entr{'y' if w.entries == 1 else 'ies'}, {w.unread} new  webhook: {clean_line(w.webhook_state)}")


@watch_group.command("rm")
@click.argument("name")
@click.pass_context
def watch_rm(ctx: click.Context, name: str) -> None:
    """Delete a watch and its entries."""
    from podsearch.service.watches import watch_book

    with watch_book(_settings(ctx)) as book:
        book.remove(name)
    _echo(f"removed watch {clean_line(name)!r}")


@watch_group.command("feed")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.pass_context
def watch_feed(ctx: click.Context, name: str, output: str | None) -> None:
    """Print the watch's entries as an Atom 1.0 feed."""
    from podsearch.service.watches import watch_book

    with watch_book(_settings(ctx)) as book:
        text = book.feed(name)
    if output:
        _emit(text, output)
    else:
        click.echo(text, nl=False)  # XML: every control is escaped or replaced already


@watch_group.command("read")
@click.argument("name")
@click.pass_context
def watch_read(ctx: click.Context, name: str) -> None:
    """Mark the watch's entries as read."""
    from podsearch.service.watches import watch_book

    with watch_book(_settings(ctx)) as book:
        count = book.mark_read(name)
    _echo(f"marked {count} new entr{'y' if count == 1 else 'ies'} of {clean_line(name)!r} as read")

# -- serving a team -------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--root-path", default="", help="URL prefix when served behind a reverse proxy (e.g. /podsearch).")
@click.option("--proxy-headers", is_flag=True, help="Trust X-Forwarded-* from a reverse proxy on 127.0.0.1.")
@click.option("--no-access-log", is_flag=True, help="Do not log every request.")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Search processes behind the one HTTP process, each holding the vector index once "
                   "(default: one per core, up to 4; 1: searches run on threads of the HTTP process). "
                   "Env: PODSEARCH_SERVE_WORKERS.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, root_path: str, proxy_headers: bool, no_access_log: bool,
          workers: int | None) -> None:
    """Serve the JSON API (search, episodes, transcripts; writes need the admin secret)."""
    from podsearch.api import serve as run_server
    from podsearch.service.homes import require_home

    settings = _settings(ctx)
    require_home(settings)  # a read command never creates a home
    processes = serve_processes(workers or settings.serve_workers)
    click.echo(f"serving home {settings.home} on http://{host}:{port}/api (OpenAPI: /openapi.json), "
               f"{processes} search process{'es' if processes > 1 else ''}", err=True)
    run_server(settings, host, port, root_path=root_path, access_log=not no_access_log, proxy_headers=proxy_headers,
               workers=processes)


@cli.command("mcp")
@click.pass_context
def mcp_command(ctx: click.Context) -> None:
    """Run the MCP server on stdio for an AI assistant (search, transcripts, watches; writes need the admin secret)."""
    from podsearch.mcp import run
    from podsearch.service.homes import require_home

    require_home(_settings(ctx))  # a read command never creates a home
    run(_settings(ctx))


@cli.group("admin")
def admin_group() -> None:
    """The home's admin secret (API bearer token and app admin password)."""


@admin_group.command("set-password")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="PODSEARCH_NEW_ADMIN_PASSWORD",
              help="The new secret (prompted when omitted).")
@click.pass_context
def admin_set_password(ctx: click.Context, password: str) -> None:
    """Set the admin password; only its Argon2 hash is stored in the home."""
    from podsearch.service.admin import set_password

    settings = _settings(ctx)
    set_password(settings, password)
    click.echo(f"admin password set ({settings.admin_hash_file})")


# -- app and demo -------------------------------------------------------------------
def _run_app(settings: Settings, port: int | None) -> None:
    env = {**os.environ, "PODSEARCH_HOME": str(settings.home),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    if settings.allow_private:
        env["PODSEARCH_ALLOW_PRIVATE"] = "1"
    if settings.read_only:
        env["PODSEARCH_READ_ONLY"] = "1"
    # The flags repeat .streamlit/config.toml, which Streamlit reads only from the folder it starts in.
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.address", "127.0.0.1",
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--client.toolbarMode", "minimal", "--runner.magicEnabled", "false"]
    if port:
        cmd += ["--server.port", str(port)]
    _echo(f"starting the app for home {settings.home} (Ctrl+C to stop)", err=True)
    from podsearch.service.stops import run_child

    run_child(cmd, env)  # SIGTERM/SIGINT reach Streamlit and whatever it started; none outlives us


@cli.command()
@click.option("--port", type=int, help="Port for the app (default 8501).")
@click.option("--read-only", is_flag=True, default=None, help="Hide every admin action (env PODSEARCH_READ_ONLY=1).")
@click.pass_context
def app(ctx: click.Context, port: int | None, read_only: bool | None) -> None:
    """Open the Streamlit app on this home."""
    from podsearch.service.homes import require_home

    require_home(_settings(ctx))  # a read command never creates a home
    _run_app(_settings(ctx, read_only=read_only or None), port)


@cli.command()
@click.option("--no-app", is_flag=True, help="Only ingest the demo; do not start the app.")
@click.option("--port", type=int, help="Port for the app (default 8501).")
@click.pass_context
def demo(ctx: click.Context, no_app: bool, port: int | None) -> None:
    """Ingest the bundled demo podcast (offline) and open the app."""
    from podsearch.service.ingest_run import ingest as run_ingest
    from podsearch.service.subscriptions import add_feed

    settings = _settings(ctx)
    show, count = add_feed(settings, str(DEMO_FEED))
    _echo(f"{show.title}: {count} episodes")
    # The demo's drug names are rare words; the vocabulary helps tiny.en hear them.
    terms = tuple(t.strip() for t in DEMO_VOCABULARY.read_text(encoding="utf-8").splitlines() if t.strip())
    with _TqdmProgress() as progress:
        report = run_ingest(settings, progress=progress, vocabulary=terms, models=_models(ctx))
    for _, message in report.feed_errors + report.episode_errors:
        _echo(f"error: {message}", err=True)
    _echo(f"demo ready in {settings.home}: try `podsearch search \"calming an angry relative\"`")
    if report.feed_errors or report.episode_errors:
        ctx.exit(1)
    if not no_app:
        _run_app(settings, port)


# -- settings -------------------------------------------------------------------------
@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the documentation's table (docs/settings.md) instead.")
@click.pass_context
def settings_command(ctx: click.Context, markdown: bool) -> None:
    """List every setting: its environment variable, this home's value and the default."""
    from podsearch.core.config import SETTINGS, settings_markdown, shown

    if markdown:
        click.echo(settings_markdown(), nl=False)
        return
    settings = _settings(ctx)
    width = max(len(s.env) for s in SETTINGS)
    for s in SETTINGS:
        value = getattr(settings, s.name)
        text, default = "(set)" if s.secret and value else shown(value) or "(none)", shown(s.default) or "(none)"
        _echo(f"{s.env:<{width}}  {text}" + ("" if value == s.default else f"  (default {default})"))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="podsearch")


if __name__ == "__main__":
    main()
