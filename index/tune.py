"""Adapting the sentence model to a library's own text, without labels (`podsearch tune`, docs/tuning.md).

Pairs are mined from the transcripts as the index reads them (`passages.searchable_segments`): a host's
question and the answer turn that follows it, a publisher chapter's title and the words that open it, and
a sentence and the two after it. The bundled model is trained on them with sentence-transformers' own
trainer and MultipleNegativesRankingLoss (every other pair of a batch is a negative), one epoch on the CPU.
The home keeps the result in its `models/tuned/` folder beside a small JSON saying what it was made from
(the layout `podsearch.core.config.tuned_model` reads).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from podsearch.core.config import TUNED_POINTER
from podsearch.core.errors import PodsearchError
from podsearch.core.records import Segment, Transcript
from podsearch.index.passages import ends_sentence, searchable_segments

# Chosen once, by reason (docs/tuning.md), not fitted to the dev questions: batch 32 (in-batch negatives
# for MultipleNegativesRankingLoss), one epoch, 10 % warm-up, and pairs capped so that training takes a few
# minutes on two shared CPU cores (a step of 32 pairs took 3-10 s); with so few steps, the trainer's own
# default learning rate (5e-5) rather than the lower 2e-5 of long runs, so that they move the model at all.
BATCH_SIZE = 32
LEARNING_RATE = 5e-5
WARMUP_RATIO = 0.1
MAX_SEQ_LENGTH = 128  # training only: the saved model keeps its base's length for passages
MAX_PAIRS = 1024
SEED = 13
# What a pair's side holds at most: about what a clip says.
SIDE_WORDS = 60
QUESTION_WORDS = 4  # a question shorter than this ("Right?", "You know?") asks nothing
ANSWER_WORDS = 8
NEIGHBOUR_WORDS = 6
FORMAT = 1


@dataclass(frozen=True)
class Pair:
    """Two texts of the library that should embed close together; `source` says how it was mined."""

    anchor: str
    positive: str
    source: str  # "question", "chapter" or "neighbour"


@dataclass(frozen=True)
class TuneInfo:
    """What `tune.json` records about a tuned model."""

    model: str  # its folder's name inside the home's models/tuned/
    base: str
    pairs: int
    steps: int
    seconds: float
    date: str
    sources: dict[str, int] = field(default_factory=dict)
    batch_size: int = BATCH_SIZE
    learning_rate: float = LEARNING_RATE
    max_seq_length: int = MAX_SEQ_LENGTH
    format: int = FORMAT


def mine_pairs(transcripts: Iterable[Transcript], limit: int = MAX_PAIRS, seed: int = SEED) -> list[Pair]:
    """Up to `limit` pairs from what the transcripts say: every question answered by another voice and every
    publisher chapter first (the pairs closest to a search: a question and its answer), then neighbouring
    sentences, drawn evenly at random, fill what is left. Sponsor reads, intros and outros are left out."""
    strong: list[Pair] = []
    neighbours: list[Pair] = []
    for transcript in transcripts:
        segments = searchable_segments(transcript)
        strong += _question_pairs(segments) + _chapter_pairs(transcript, segments)
        neighbours += _neighbour_pairs(segments)
    rng = random.Random(seed)
    rng.shuffle(strong)
    rng.shuffle(neighbours)
    pairs = strong[:limit] + neighbours[: max(0, limit - len(strong))]
    rng.shuffle(pairs)
    return pairs


def _speech(segment: Segment) -> bool:
    return segment.kind == "speech" and not segment.flagged and bool(segment.text.strip())


def _words(text: str) -> int:
    return len(text.split())


def _run(segments: list[Segment], start: int, speaker: str | None = None) -> str:
    """The text of the speech from `start` on (of `speaker` alone when given), up to `SIDE_WORDS` words."""
    words: list[str] = []
    for segment in segments[start:]:
        if not _speech(segment) or (speaker is not None and segment.speaker != speaker) or len(words) >= SIDE_WORDS:
            break
        words += segment.text.split()
    return " ".join(words[:SIDE_WORDS])


def _question_pairs(segments: list[Segment]) -> list[Pair]:
    """A question and the turn of the other voice that answers it (the asker may go on for two sentences)."""
    pairs = []
    for i, segment in enumerate(segments):
        text = segment.text.strip()
        if not (_speech(segment) and segment.speaker and text.rstrip('"”').endswith("?")
                and _words(text) >= QUESTION_WORDS):
            continue
        for j in range(i + 1, min(i + 4, len(segments))):
            if not _speech(segments[j]) or segments[j].speaker is None:
                break
            if segments[j].speaker != segment.speaker:
                answer = _run(segments, j, segments[j].speaker)
                if _words(answer) >= ANSWER_WORDS:
                    pairs.append(Pair(" ".join(text.split()[-SIDE_WORDS:]), answer, "question"))
                break
    return pairs


def _chapter_pairs(transcript: Transcript, segments: list[Segment]) -> list[Pair]:
    """A publisher chapter's title and the words that open it (generated titles are made of those words)."""
    pairs = []
    for chapter in transcript.chapters:
        title = chapter.title.strip()
        if chapter.generated or _words(title) < 2:
            continue
        first = next((i for i, s in enumerate(segments) if s.start >= chapter.start - 0.5), None)
        text = _run(segments, first) if first is not None else ""
        if _words(text) >= ANSWER_WORDS:
            pairs.append(Pair(title, text, "chapter"))
    return pairs


def _neighbour_pairs(segments: list[Segment]) -> list[Pair]:
    """A whole sentence and the (up to) two sentences after it, when all are speech."""
    pairs = []
    for i, segment in enumerate(segments[:-1]):
        if not (_speech(segment) and ends_sentence(segment.text) and _words(segment.text) >= NEIGHBOUR_WORDS):
            continue
        after = list(segments[i + 1 : i + 3])
        if not all(_speech(s) for s in after):
            after = after[:1] if _speech(after[0]) else []
        text = " ".join(" ".join(s.text.split()) for s in after)
        if _words(text) >= ANSWER_WORDS:
            pairs.append(Pair(" ".join(segment.text.split()[-SIDE_WORDS:]), " ".join(text.split()[:SIDE_WORDS]),
                              "neighbour"))
    return pairs


def train(base_path: str, pairs: list[Pair], out_dir: Path, *,
          progress: Callable[[int, int], None] | None = None) -> tuple[int, float]:
    """Train the sentence model at `base_path` on `pairs` and save it in `out_dir` (made whole or not at all);
    returns the optimizer steps taken and the seconds they took. `progress(done, total)` hears each step."""
    if len(pairs) < BATCH_SIZE:
        raise PodsearchError(f"too little text to tune on: {len(pairs)} pairs mined, {BATCH_SIZE} needed at "
                             "least; ingest more episodes first")
    try:
        from datasets import Dataset
        import accelerate  # noqa: F401 - transformers.Trainer needs it; asked for here to say so in one line
    except ImportError:
        raise PodsearchError("podsearch tune needs the tune extra: pip install -e \".[tune]\" "
                             "(datasets and accelerate)") from None
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    try:  # sentence-transformers 6 moved the losses (the old path warns)
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # pragma: no cover - sentence-transformers 3-5
        from sentence_transformers.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback, TrainerCallback
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    saved_length = model.max_seq_length
    model.max_seq_length = MAX_SEQ_LENGTH
    data = Dataset.from_dict({"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]})

    class _Trainer(SentenceTransformerTrainer):
        def add_model_card_callback(self, default_args_dict):  # noqa: ANN001, ANN202
            """No model card: it samples and measures the pairs (with a progress bar of its own) for a hub page."""

    class Report(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
            if progress is not None:  # the bar shows from the start, not after the first step's seconds
                progress(0, int(state.max_steps))

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
            if progress is not None:
                progress(int(state.global_step), int(state.max_steps))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tune-", dir=out_dir.parent))
    try:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(staging / "trainer"), num_train_epochs=1, per_device_train_batch_size=BATCH_SIZE,
            learning_rate=LEARNING_RATE, warmup_steps=WARMUP_RATIO, batch_sampler="no_duplicates",
            save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
            dataloader_num_workers=0, seed=SEED, data_seed=SEED,
        )
        trainer = _Trainer(model=model, args=args, train_dataset=data,
                                             loss=MultipleNegativesRankingLoss(model), callbacks=[Report()])
        trainer.remove_callback(PrinterCallback)  # it prints the run's metrics on stdout; the caller reports
        t0 = time.perf_counter()
        # The trainer warns about settings it was not asked for (a tokenizer's deprecated names, no evaluation).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            result = trainer.train()
        seconds = time.perf_counter() - t0
        model.max_seq_length = saved_length
        shutil.rmtree(staging / "trainer", ignore_errors=True)
        model.save(str(staging / "model"))
        os.replace(staging / "model", out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return int(result.global_step), seconds


def write_info(tuned_dir: Path, info: TuneInfo) -> None:
    """Make `info`'s model the one the home uses: its `tune.json` replaced whole (never half written)."""
    tuned_dir.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tune-", suffix=".json", dir=tuned_dir)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(json.dumps(asdict(info), indent=1))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, tuned_dir / TUNED_POINTER)


def read_info(tuned_dir: Path) -> TuneInfo | None:
    """The home's `tune.json`, or None when it has none or it cannot be read."""
    try:
        data = json.loads((tuned_dir / TUNED_POINTER).read_text(encoding="utf-8"))
        return TuneInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
