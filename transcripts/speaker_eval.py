"""How right a transcript's speaker labels are against reference turns (who really spoke when).

Labels are arbitrary ("Speaker 2", or a name), so they are first matched one to one with the
true speakers, the matching that puts the most speech time on the right speaker (Hungarian
assignment over overlap durations); the score is the share of reference speech time whose
segment carries the label matched to its true speaker. Speech no segment covers, or covered by
an unlabelled segment, counts as wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from podsearch.core.records import Segment


@dataclass(frozen=True)
class RefTurn:
    """A stretch of reference speech by one true speaker (seconds)."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakerScore:
    """Share of reference speech time on the right speaker, and the label matched to each true speaker."""

    share: float  # right_s / speech_s, 0..1
    right_s: float
    speech_s: float
    mapping: dict[str, str | None]  # true speaker -> the transcript label matched to it (None: none left)


def speaker_score(segments: Sequence[Segment], reference: Sequence[RefTurn]) -> SpeakerScore:
    """Score `segments`' speaker labels against `reference` under the best one-to-one mapping."""
    truths = sorted({r.speaker for r in reference})
    labels = sorted({s.speaker for s in segments if s.speaker})
    speech = sum(max(0.0, r.end - r.start) for r in reference)
    overlap = np.zeros((len(truths), len(labels)))
    row = {t: i for i, t in enumerate(truths)}
    col = {lab: j for j, lab in enumerate(labels)}
    for r in reference:
        for s in segments:
            if s.speaker and s.end > r.start and s.start < r.end:
                overlap[row[r.speaker], col[s.speaker]] += min(s.end, r.end) - max(s.start, r.start)
    mapping: dict[str, str | None] = dict.fromkeys(truths)
    right = 0.0
    if truths and labels:
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        for i, j in zip(rows, cols):
            mapping[truths[i]] = labels[j]
            right += overlap[i, j]
    return SpeakerScore(share=right / speech if speech else 0.0, right_s=right, speech_s=speech, mapping=mapping)
