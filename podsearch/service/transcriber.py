"""The transcriber: one episode into a Transcript in this process, the publisher's or Whisper's.

A publisher transcript we can read is used as it is (after a plausibility check); otherwise the
audio is downloaded into the home's cache and streamed through Whisper, with speakers told apart
from the same decoded blocks. The feed's chapters, persons and soundbites travel with the transcript.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from podsearch.core.config import Settings, usable_cores
from podsearch.core.errors import AudioError, LanguageUnavailable, PodsearchError
from podsearch.core.records import Chapter, Episode, Segment, Transcript
from podsearch.service.library import HELD, EpisodeRow
from podsearch.service.models import Models
from podsearch.service.progress import Progress, ProgressFn, Stage, ignore

if TYPE_CHECKING:  # torch and friends load when speakers are first asked for
    from podsearch.ingest.diarize import SpeakerFeatures

# Publisher transcript types we can read, best first (JSON and VTT carry speakers).
TRANSCRIPT_TYPES = ("application/json", "text/vtt", "application/x-subrip", "application/srt", "text/html")


def _pick_transcript(episode: Episode):  # noqa: ANN202 - TranscriptLink | None
    ranked = [t for t in episode.transcripts if t.type.split(";")[0].strip().lower() in TRANSCRIPT_TYPES]
    ranked.sort(key=lambda t: TRANSCRIPT_TYPES.index(t.type.split(";")[0].strip().lower()))
    return ranked[0] if ranked else None


def publisher_segments(settings: Settings, episode: Episode, local_ok: bool) -> tuple[Segment, ...] | None:
    """The publisher's own transcript of the episode, or None if it has none we can read.

    Raises TranscriptError when it is denser than speech for the episode's length.
    """
    from podsearch.ingest.download import download
    from podsearch.transcripts.formats import parse_transcript
    from podsearch.transcripts.limits import check_plausible, merge_tiny

    link = _pick_transcript(episode)
    if link is None:
        return None
    path = download(link.url, settings.audio_dir, settings=settings, expected_type="transcript", local_ok=local_ok)
    segments = parse_transcript(path.read_bytes(), link.type)
    # Refuse a transcript denser than speech before any of it is embedded; join tiny cues.
    check_plausible(segments, episode.duration, episode.title)
    return merge_tiny(segments, max_words=settings.max_passage_words) or None


def episode_chapters(settings: Settings, episode: Episode, local_ok: bool,
                     notes: list[str] | None = None) -> tuple[Chapter, ...]:
    """The episode's Podcasting 2.0 chapters, or () when absent or unreadable (why is added to `notes`)."""
    if not episode.chapters_url:
        return ()
    from podsearch.ingest.download import download
    from podsearch.ingest.feeds import parse_chapters

    try:
        path = download(episode.chapters_url, settings.audio_dir, settings=settings, expected_type="any", local_ok=local_ok)
        return parse_chapters(path.read_bytes())
    except (PodsearchError, ValueError) as exc:
        # Chapters are a nicety: never fail an episode for them, but say they were left out.
        if notes is not None:
            notes.append(f"chapters unreadable ({exc})")
        return ()


def episode_note(transcript: Transcript) -> str | None:
    """The one line `status` shows beside an episode that took a fallback (None when it took none)."""
    return "; ".join(transcript.notes) or None


class Cancelled(Exception):
    """A transcription abandoned because the ingest is stopping; the episode stays pending."""


def forget_cached(settings: Settings, path: Path) -> None:
    """Delete a file from the home's download cache (never anything outside it)."""
    if path.resolve().parent == settings.audio_dir.resolve():
        path.unlink(missing_ok=True)


class Transcriber:
    """Turns one episode into a Transcript in this process: publisher's, or Whisper's."""

    def __init__(self, settings: Settings, progress: ProgressFn | None = None, vocabulary: tuple[str, ...] = (),
                 workers: int = 1, threads: int | None = None, models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models()  # the process's models (None: models of its own)
        self.progress = progress or ignore
        self.vocabulary = vocabulary
        self.workers = workers  # threads that call transcribe() at once
        self.threads = threads  # CPU threads for each (None: the cores shared among workers)
        self._engine = None
        self._multilingual = None
        self._multilingual_missing: str | None = None
        self._diarizer = None
        self._lock = threading.Lock()
        # Set to abandon transcriptions in flight (an interrupted ingest); they stop within a window.
        self.cancel = threading.Event()

    @property
    def engine(self):  # noqa: ANN201 - ingest.transcribe.Engine
        """The Whisper engine, loaded on first use (never for publisher transcripts)."""
        with self._lock:  # workers ask at once; load the model once
            if self._engine is None:
                self._engine = self.models.engine(
                    self.settings.engine, self.settings.whisper_model, device=self.settings.device,
                    models_dir=self.settings.models_dir, workers=self.workers, threads=self.threads,
                    keep_freed_memory=self.settings.keep_freed_memory,
                )
        return self._engine

    def multilingual(self):  # noqa: ANN201 - ingest.transcribe.Engine | None
        """The model for languages other than English (settings.multilingual_model), loaded on first use;
        None when it is not installed (`multilingual_missing` then says why). A multilingual main model
        (PODSEARCH_WHISPER_MODEL=small, say) is its own."""
        from podsearch.core.errors import ModelError
        from podsearch.ingest.transcribe import model_missing

        if not getattr(self.engine, "english_only", True):
            return self.engine
        with self._lock:
            if self._multilingual is None and self._multilingual_missing is None:
                model = self.settings.multilingual_model
                self._multilingual_missing = model_missing(model)
                if self._multilingual_missing is None:
                    try:
                        self._multilingual = self.models.engine(
                            self.settings.engine, model, device=self.settings.device,
                            models_dir=self.settings.models_dir, workers=self.workers, threads=self.threads,
                            keep_freed_memory=self.settings.keep_freed_memory)
                    except ModelError as exc:
                        self._multilingual_missing = str(exc)
                if self._multilingual is not None and self._multilingual.english_only:
                    self._multilingual, self._multilingual_missing = None, f"{model} is an English-only model"
        return self._multilingual

    def multilingual_installed(self) -> bool:
        """True when there is a multilingual model to load, known without loading it (`multilingual` loads)."""
        from podsearch.ingest.transcribe import model_missing

        if self._multilingual is not None or not getattr(self.engine, "english_only", True):
            return True
        return self._multilingual_missing is None and model_missing(self.settings.multilingual_model) is None

    @property
    def multilingual_missing(self) -> str | None:
        """Why there is no multilingual model (None when there is one)."""
        self.multilingual()
        return self._multilingual_missing

    @property
    def diarizer(self):  # noqa: ANN201 - ingest.diarize.Diarizer
        """The speaker model, loaded on first use (never when speakers are off)."""
        with self._lock:
            if self._diarizer is None:
                from podsearch.ingest.diarize import Diarizer

                self._diarizer = Diarizer(encoder=self.models.speaker_encoder(), parallel=usable_cores())
        return self._diarizer

    @property
    def keeps_samples(self) -> bool:
        """Whether speaker features keep the samples (for the segmentation model's look at short segments)."""
        from podsearch.ingest.segmentation import OFF

        return self.settings.segmentation_model != OFF

    def speakers(self, audio: Path | SpeakerFeatures, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
        """`segments` labelled by who speaks them, from the speaker features gathered while Whisper's decode
        streamed, or from an audio file decoded again a block at a time (memory stays bounded either way).
        Segments too short for the diarizer's windows are checked by the segmentation model (docs/speakers.md)."""
        from podsearch.ingest.diarize import SAMPLE_RATE, SpeakerFeatures, Turn
        from podsearch.ingest.segmentation import recheck_short
        from podsearch.transcripts.speakers import label_segments

        # The words' own span: the lead a segment opens with (SEGMENT_LEAD) would close the pauses the
        # diarizer's regions and windows are placed by (docs/speakers.md).
        speech = [(s.words[0].start, s.words[-1].end) if s.words else (s.start, s.end)
                  for s in segments if s.text.strip()]
        features = audio if isinstance(audio, SpeakerFeatures) else None
        if features is None:
            from podsearch.ingest.audio import stream_audio

            features = SpeakerFeatures(keep_samples=self.keeps_samples)
            for block in stream_audio(Path(audio)):
                features.add(block)
        try:
            turns = self.diarizer.run_features(features, speech).turns
            segmentation = self.models.speaker_segmentation(self.settings.segmentation_model)
            if segmentation is not None and features.keeps_samples:
                turns = recheck_short(turns, speech, features.read, features.samples / SAMPLE_RATE, segmentation,
                                      self.diarizer.window_s, Turn)
        finally:
            if features is not audio:  # ours: its kept samples' temporary file goes now (the caller's stays theirs)
                features.close()
        return label_segments(segments, turns)

    def _second_opinion(self, path: Path, options, progress, result, features):  # noqa: ANN001, ANN202
        """(language, result, features) once the multilingual model has named the language of an undeclared
        episode that tiny.en took for English: kept as it is when English (a poor recording, indexed as before),
        else transcribed again by the multilingual model (decoded again, speaker features anew); language None
        when that model would not load."""
        from podsearch.ingest.audio import stream_audio
        from podsearch.ingest.transcribe import transcribe_stream
        from podsearch.service import languages

        multilingual = self.multilingual()
        if multilingual is None:
            return None, result, features
        head, _ = languages.read_ahead(stream_audio(path))
        language = multilingual.detect_language(head)[0]
        if not languages.needs_multilingual(language):
            return language, result, features
        blocks = stream_audio(path)
        if features is not None:
            from podsearch.ingest.diarize import SpeakerFeatures

            features = SpeakerFeatures(keep_samples=self.keeps_samples)
            blocks = features.tee(blocks)
        return language, transcribe_stream(multilingual, blocks, replace(options, language=language),
                                           progress=progress), features

    def options(self, row: EpisodeRow | None = None):  # noqa: ANN201 - ingest.transcribe.TranscribeOptions
        """The decoding settings of this home; for `row`, with the names and terms its feed gives."""
        from podsearch.ingest.transcribe import TranscribeOptions
        from podsearch.service.vocabulary import episode_vocabulary

        vocabulary = self.vocabulary if row is None else episode_vocabulary(
            self.vocabulary, row.show_title, row.episode, from_feed=self.settings.feed_vocabulary)
        return TranscribeOptions(vocabulary=vocabulary, beam_size=self.settings.beam_size,
                                 batch_size=self.settings.batch_size)

    def download_audio(self, row: EpisodeRow, local_ok: bool) -> Path:
        """The episode's audio file in the home's cache, downloaded if needed."""
        from podsearch.ingest.download import download

        return download(row.episode.audio_url, self.settings.audio_dir, settings=self.settings,
                        expected_type="audio", local_ok=local_ok)

    def transcribe(self, row: EpisodeRow, local_ok: bool, audio: Future | None = None) -> Transcript:
        """A Transcript for the episode: the publisher's if offered, else Whisper's."""
        ep = row.episode
        segments: tuple[Segment, ...] | None = None
        source, engine_name, model_name, duration = "publisher", None, None, ep.duration
        notes: list[str] = []  # every fallback taken, kept with the episode for `status`
        try:
            segments = publisher_segments(self.settings, ep, local_ok)
        except PodsearchError as exc:
            self.progress(Progress(Stage.WARNING, ep.title, message=(
                f"{row.show_title} / {ep.title}: publisher transcript unusable, using Whisper: {exc}")))
            notes.append(f"publisher transcript unusable, transcribed by Whisper: {exc}")

        from podsearch.core.languages import primary
        from podsearch.service import languages

        language = primary(ep.language)  # what the feed declares (item, else channel); None: detected below
        if segments is None:
            from podsearch.ingest.audio import SAMPLE_RATE, audio_seconds, stream_audio
            from podsearch.ingest.transcribe import first_speech, transcribe_stream

            # Held before anything is downloaded when no installed model speaks the declared language, or
            # (undeclared) when this episode was held as not English and still nothing can tell its language.
            if languages.needs_multilingual(language) and self.multilingual() is None:
                raise languages.hold(language, self.multilingual_missing or "")
            if language is None and row.status == HELD and row.error and self.multilingual() is None:
                raise LanguageUnavailable(row.error)
            self.progress(Progress(Stage.DOWNLOAD, ep.title))
            path = audio.result() if audio is not None else self.download_audio(row, local_ok)
            # The headers' length for the bar; the decoded length replaces it when done.
            expected = audio_seconds(path) or ep.duration
            self.progress(Progress(Stage.TRANSCRIBE, ep.title, 0.0, expected))
            def on_progress(done: float) -> None:
                if self.cancel.is_set():
                    raise Cancelled(ep.title)
                self.progress(Progress(Stage.TRANSCRIBE, ep.title, done, max(expected or 0.0, done) or None))

            # Decoded and transcribed a chunk at a time: memory does not grow with the episode. The speaker
            # encoder's features are taken from the same blocks on their way (the audio is decoded once).
            features = None
            blocks = stream_audio(path)
            if self.settings.speakers:
                from podsearch.ingest.diarize import SpeakerFeatures

                features = SpeakerFeatures(keep_samples=self.keeps_samples)
                blocks = features.tee(blocks)
            options, engine = self.options(row), self.engine
            try:
                if language is None and self.multilingual_installed():
                    head, blocks = languages.read_ahead(blocks)
                    start = first_speech(head)  # silences cut once, for both models
                    # The English model's sure reading of the start settles it; only doubt (or an episode held
                    # before) loads the multilingual model and costs its detection.
                    if row.status == HELD or not languages.surely_english(engine, start):
                        if self.multilingual() is not None:
                            language = self.multilingual().detect_language(start)[0]
                        elif languages.probe_not_english(engine, head[: int(languages.PROBE_SECONDS * SAMPLE_RATE)],
                                                         options):  # installed, but it would not load
                            raise languages.hold(None, self.multilingual_missing or "")
                elif language is None:
                    # Only the English model: its first minute tells before the whole episode is spent on
                    # sound-alike English (slow too: every window falls back through the temperatures).
                    head, blocks = languages.read_ahead(blocks, languages.PROBE_SECONDS)
                    if languages.probe_not_english(engine, head, options):
                        raise languages.hold(None, self.multilingual_missing or "")
                if languages.needs_multilingual(language):
                    options, engine = replace(options, language=language), self.multilingual()
                result = transcribe_stream(engine, blocks, options, progress=on_progress)
            except AudioError:
                # A broken download must not be reused: the next ingest fetches the enclosure again.
                forget_cached(self.settings, path)
                raise
            if language is None and result.likely_not_english and self.multilingual_installed():
                # tiny.en was sure of the start but heard most of the episode without confidence: the multilingual
                # model tells its language after all, as it would have at the start.
                language, result, features = self._second_opinion(path, options, on_progress, result, features)
            if language is None and result.likely_not_english:
                # Not indexed as English nonsense: held until a model can tell (and transcribe) its language.
                raise languages.hold(None, self.multilingual_missing or "")
            duration = result.duration
            for warning in result.warnings:
                self.progress(Progress(Stage.WARNING, ep.title, message=warning))
            segments, source = result.segments, "whisper"
            engine_name, model_name, language = result.engine, result.model, result.language
            if self.settings.speakers and segments:
                self.progress(Progress(Stage.SPEAKERS, ep.title))
                segments = self.speakers(features, tuple(segments))
        return Transcript(  # annotated (speakers named, kinds, chapters) by the Ingester, which knows the renames
            show=row.show_title, episode=ep.title, guid=ep.guid, key=ep.key, segments=tuple(segments),
            published=ep.published, audio_url=ep.audio_url, link=ep.link, source=source, language=language,
            engine=engine_name, model=model_name, duration=duration,
            # JSON chapters when the feed links them, else the ones it gives inline (Podlove Simple Chapters).
            chapters=episode_chapters(self.settings, ep, local_ok, notes) or ep.chapters, persons=ep.persons,
            soundbites=ep.soundbites, notes=tuple(notes),
        )
