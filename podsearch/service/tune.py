"""`podsearch tune`: the sentence model adapted to the home's own transcripts, then the index rebuilt with it.

The training is `index.tune` (pairs mined from the transcripts, no labels). Here: the transcripts read from
disk, the new model put in the home's `models/tuned/` and named by its `tune.json` under the home's writer
lock, and the index rebuilt with it in the same hold, so no passage of one model is ever searched with the
other (the index records its model and refuses another: `SearchIndex._check_model`). `reset` goes back to
the bundled model the same way. docs/tuning.md has the figures.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from podsearch.core.config import DEFAULT_EMBED_MODEL, TUNED_PREFIX, Settings, tuned_model
from podsearch.core.errors import PodsearchError
from podsearch.service.models import Models
from podsearch.service.progress import Progress, ProgressFn, Stage, ignore

NO_TEXT = "this home has no transcripts to tune the sentence model on; run `podsearch ingest` first"


@dataclass(frozen=True)
class TuneReport:
    """What `tune` made: the model's name (the home's embed_model from now on), the pairs it was trained on
    (and how many of each source), its steps and their seconds, and the transcripts re-indexed with it."""

    name: str
    pairs: int
    steps: int
    seconds: float
    sources: dict[str, int]
    reindexed: int


def tune(settings: Settings, progress: ProgressFn | None = None, models: Models | None = None, *,
         max_pairs: int | None = None, wait: bool = True) -> TuneReport:
    """Train the bundled sentence model on pairs mined from this home's transcripts, make it the home's
    model and rebuild the index with it. `max_pairs` caps the pairs (and so the steps: one per 32)."""
    from collections import Counter

    from podsearch.index.embed import resolve_embed_model
    from podsearch.index.tune import MAX_PAIRS, TuneInfo, mine_pairs, train, write_info
    from podsearch.transcripts.store import iter_transcript_files, load_transcript

    emit = progress or ignore
    _check_setting(settings)
    files = list(iter_transcript_files(settings.transcripts_dir))
    if not files:
        raise PodsearchError(NO_TEXT)
    pairs = mine_pairs((load_transcript(path) for path in files), limit=max_pairs or MAX_PAIRS)
    date = datetime.now(UTC)
    folder = f"{date:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    steps, seconds = train(resolve_embed_model(DEFAULT_EMBED_MODEL), pairs, settings.tuned_dir / folder,
                           progress=lambda done, total: emit(Progress(Stage.TUNE, "tuning", done, total)))
    info = TuneInfo(model=folder, base=DEFAULT_EMBED_MODEL, pairs=len(pairs), steps=steps,
                    seconds=round(seconds, 1), date=date.isoformat(timespec="seconds"),
                    sources=dict(Counter(p.source for p in pairs)))
    name = TUNED_PREFIX + str(settings.tuned_dir / folder)
    count = _switch(settings, emit, models, wait, lambda: write_info(settings.tuned_dir, info), keep=folder)
    return TuneReport(name, info.pairs, info.steps, info.seconds, info.sources, count)


def reset(settings: Settings, progress: ProgressFn | None = None, models: Models | None = None, *,
          wait: bool = True) -> int | None:
    """Go back to the bundled sentence model: the tuned one removed and the index rebuilt; episodes re-indexed,
    or None when the home had no tuned model (nothing changed)."""
    if not settings.tuned_dir.exists():
        return None
    return _switch(settings, progress or ignore, models, wait, lambda: None, keep=None)


def _check_setting(settings: Settings) -> None:
    """A model named by PODSEARCH_EMBED_MODEL outranks the home's tuned one: tuning would change nothing."""
    if _named_by_user():
        raise PodsearchError(f"this home embeds with {settings.embed_model} (PODSEARCH_EMBED_MODEL), which a tuned "
                             "model would not replace; unset PODSEARCH_EMBED_MODEL to tune the bundled model")


def _named_by_user() -> bool:
    return bool(os.environ.get("PODSEARCH_EMBED_MODEL", "").strip())


def _switch(settings: Settings, emit: ProgressFn, models: Models | None, wait: bool, activate: Callable[[], None],
            keep: str | None) -> int:
    """Under the home's writer lock: `activate` the new model (or none: `keep` None), remove every other tuned
    model and its query-encoder export, and rebuild the index with the model the home now names."""
    from podsearch.service.homelock import writing
    from podsearch.service.reindex import _reindex

    with writing(settings, "tune", wait=wait, on_wait=lambda m: emit(Progress(Stage.WAITING, "", message=m))):
        activate()
        for old in (p for p in settings.tuned_dir.iterdir() if p.is_dir() and p.name != keep):
            _drop_export(settings, old)
            shutil.rmtree(old, ignore_errors=True)
        if keep is None:
            shutil.rmtree(settings.tuned_dir, ignore_errors=True)
        if not _named_by_user():
            settings = settings.with_(embed_model=tuned_model(settings) or DEFAULT_EMBED_MODEL)
        return _reindex(settings, emit, models)


def _drop_export(settings: Settings, folder: Path) -> None:
    """Remove the query encoder exported from the tuned model in `folder` (the cache would keep it forever)."""
    from podsearch.index.query_encoder import export_dir

    if folder.name.startswith("."):
        return
    shutil.rmtree(export_dir(settings.models_dir, TUNED_PREFIX + str(folder), str(folder)), ignore_errors=True)
