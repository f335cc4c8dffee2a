"""Which Whisper model transcribes an episode: by the language its feed declares, else the one its audio has.

English goes to the home's model (tiny.en by default). Any other language goes to the multilingual model
(`Settings.multilingual_model`, the `multilingual` extra); without it the episode is held, not indexed,
with one line naming its language and what to install, and never transcribed into English nonsense.
Undeclared episodes are identified by the multilingual model's own language detection; without it, an
English-only model that hears most of the speech without confidence holds the episode as "not English".
See docs/languages.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import chain

import numpy as np

from podsearch.core.errors import LanguageUnavailable
from podsearch.core.languages import ENGLISH, MULTILINGUAL_EXTRA, language_name
from podsearch.ingest.audio import SAMPLE_RATE

# Audio read ahead to detect an undeclared episode's language (Whisper listens to 30 s of its speech).
DETECT_SECONDS = 90.0
# Without the multilingual model: audio the English model transcribes first to tell "not English".
PROBE_SECONDS = 60.0
# With it: how sure the English model must be of its reading of the first 30 s of speech (mean log-probability
# per token) to take an undeclared episode as English without the multilingual model's detection; below it the
# multilingual model decides, as before. Chosen from the readings of tests/data's recordings (docs/languages.md);
# a wrong "sure" costs time, not the language: a transcript tiny.en cannot hear gets the multilingual model's word
# after all (Transcriber._second_opinion).
SURE_ENGLISH_LOGPROB = -0.7


def held_message(language: str | None, reason: str) -> str:
    """The one line `status` shows for an episode held for its language."""
    what = f"{language_name(language)}: not indexed" if language else \
        "not indexed: it does not sound like English and no installed model can tell its language"
    fix = reason if MULTILINGUAL_EXTRA in reason else f"{reason}; install the multilingual model: {MULTILINGUAL_EXTRA}"
    return f"{what}; {fix}, then run `podsearch ingest` again"


def hold(language: str | None, reason: str) -> LanguageUnavailable:
    """The error that holds an episode in `language` (None: unknown, not English) for `reason`."""
    return LanguageUnavailable(held_message(language, reason))


def needs_multilingual(language: str | None) -> bool:
    """True for a known language other than English."""
    return language is not None and language != ENGLISH


def probe_not_english(engine, samples: np.ndarray, options) -> bool:  # noqa: ANN001 - Engine, TranscribeOptions
    """True when an English-only `engine` hears most of the speech in `samples` without confidence.

    Greedy only (no temperature fallback): on other languages the fallback is what takes the time
    (bench/bench_languages.py), and the unconfident text is as unconfident without it.
    """
    return engine.transcribe(samples, replace(options, temperature=options.temperature[:1])).likely_not_english


def surely_english(engine, head: np.ndarray) -> bool:  # noqa: ANN001 - Engine
    """True when the English-only `engine` reads the start of an undeclared episode as English so surely
    that the multilingual model need not be loaded or asked (one short decoder pass instead of its detection)."""
    confidence = engine.english_logprob(head)
    return confidence is not None and confidence >= SURE_ENGLISH_LOGPROB


def read_ahead(blocks: Iterable[np.ndarray], seconds: float = DETECT_SECONDS) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """The first `seconds` of 16 kHz `blocks` as one array, and all the blocks again (those read included)."""
    head: list[np.ndarray] = []
    have, wanted = 0, int(seconds * SAMPLE_RATE)
    it = iter(blocks)
    for block in it:
        head.append(block)
        have += len(block)
        if have >= wanted:
            break
    samples = np.concatenate(head).astype(np.float32, copy=False) if head else np.zeros(0, np.float32)
    return samples[:wanted], chain(head, it)


__all__ = ["DETECT_SECONDS", "PROBE_SECONDS", "held_message", "probe_not_english", "hold", "needs_multilingual", "read_ahead", "surely_english"]
