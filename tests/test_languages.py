"""Other languages (issue #26): the feed's <language>, the multilingual model, passages indexed with their language,
and episodes held (never indexed as English nonsense) when no installed model transcribes their language."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from httpserver import LocalServer

from podsearch.core.languages import MULTILINGUAL_EXTRA, is_english, language_name, primary
from podsearch.core.records import Segment, Transcript
from podsearch.index.search import SearchOptions, search
from podsearch.index.store import SearchIndex
from podsearch.ingest.feeds import parse_feed
from podsearch.ingest.multilingual import not_installed
from podsearch.ingest.transcribe import model_missing

DATA = Path(__file__).parent / "data"
CLIPS = DATA / "languages"
Run = Callable[..., Result]

MULTILINGUAL = pytest.mark.skipif(
    not_installed() is not None,
    reason=f"the multilingual Whisper model is not installed ({MULTILINGUAL_EXTRA}; setup.sh installs it)")

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>{title}</title><link>https://example.org/{slug}</link><description>A show.</description>{language}
<item><title>{episode}</title><guid>{slug}-1</guid><pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate>
<enclosure url="{url}" type="{type}" length="1"/></item>
</channel></rss>"""


def serve_show(server: LocalServer, slug: str, title: str, episode: str, audio: Path, language: str | None,
               type_: str = "audio/ogg") -> str:
    """A one-episode feed on the local server; its address."""
    server.route(f"/{slug}/{audio.name}", audio, content_type=type_)
    tag = f"<language>{language}</language>" if language else ""
    feed = FEED.format(title=title, slug=slug, language=tag, episode=episode, url=server.url(f"/{slug}/{audio.name}"),
                       type=type_)
    server.route(f"/{slug}/feed.xml", feed.encode(), content_type="application/rss+xml")
    return server.url(f"/{slug}/feed.xml")


@pytest.fixture()
def three_shows(http_server: LocalServer) -> list[str]:
    """A Spanish show that declares es-ES, a German one that declares nothing, an English one that declares nothing."""
    return [
        serve_show(http_server, "salud", "Salud en Casa", "La vacuna de la gripe", CLIPS / "spanish-espeak.ogg", "es-ES"),
        serve_show(http_server, "pflege", "Pflege daheim", "Die Grippeimpfung", CLIPS / "german-espeak.ogg", None),
        serve_show(http_server, "speeches", "Speeches", "Inaugural address", DATA / "jfk.flac", None, "audio/flac"),
    ]


def statuses(run: Run, home: Path) -> dict[str, str]:
    """Episode title -> its `podsearch status` line."""
    lines = run(home, "status").output.splitlines()
    titles = ("La vacuna de la gripe", "Die Grippeimpfung", "Inaugural address")
    return {t: next(line for line in lines if t in line) for t in titles}


def words(transcript: dict) -> set[str]:
    """The words of a transcript's JSON, in lower case."""
    return {w.strip(".,;:!?¿¡").lower() for s in transcript["segments"] for w in s["text"].split()}


def search_json(run: Run, home: Path, query: str) -> list[dict]:
    return json.loads(run(home, "search", query, "--json", "-k", "5").output)


# -- tags, feeds, model lookup -------------------------------------------------------


def test_language_tags_normalise_to_their_primary_subtag() -> None:
    assert primary("es-ES") == "es" and primary("EN_us") == "en" and primary(" de ") == "de"
    assert primary("haw") == "haw" and primary(None) is None and primary("") is None
    assert primary("not a tag") is None and primary("e") is None
    assert is_english("en-GB") and not is_english("es") and not is_english(None)
    assert language_name("de-AT") == "German (de)" and language_name("haw") == "haw"
    assert language_name(None) == "unknown"


def test_an_item_language_wins_over_the_channel_language() -> None:
    feed = """<rss version="2.0"><channel><title>Bilingüe</title><language>es-ES</language>
    <item><title>Uno</title><guid>1</guid><enclosure url="https://example.org/1.mp3" type="audio/mpeg"/></item>
    <item><title>Dos</title><guid>2</guid><language>ca</language>
      <enclosure url="https://example.org/2.mp3" type="audio/mpeg"/></item>
    </channel></rss>"""
    show, episodes = parse_feed(feed.encode(), "https://example.org/feed.xml")
    assert show.language == "es-ES"
    assert {e.title: e.language for e in episodes} == {"Uno": "es-ES", "Dos": "ca"}


def test_a_missing_model_is_named_with_what_to_install(tmp_path: Path) -> None:
    reason = not_installed(("podsearch_no_such_model_part1", "podsearch_no_such_model_part2"))
    assert reason is not None and MULTILINGUAL_EXTRA in reason and "podsearch_no_such_model_part1" in reason
    missing = tmp_path / "no-such-model"
    assert "does not exist" in (model_missing(str(missing)) or "")
    assert model_missing(str(DATA)) is None  # an existing path is tried (and then must load)
    assert model_missing("bundled:tiny.en") is None


@MULTILINGUAL
def test_the_two_packages_join_into_one_model_folder_once(tmp_path: Path) -> None:
    from podsearch.ingest.multilingual import bundled_dir

    folder = bundled_dir(tmp_path)
    parts = sorted(p for d in _package_dirs() for p in d.glob("model.bin.part*"))
    assert len(parts) == 2 and (folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    with (folder / "model.bin").open("rb") as fh:  # the first half's bytes, then the second's
        assert fh.read(64) == parts[0].read_bytes()[:64]
        fh.seek(parts[0].stat().st_size)
        assert fh.read(64) == parts[1].read_bytes()[:64]
    assert {"config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    joined = (folder / "model.bin").stat().st_mtime_ns
    assert bundled_dir(tmp_path) == folder and (folder / "model.bin").stat().st_mtime_ns == joined  # joined once
    with (folder / "model.bin").open("r+b") as fh:  # a damaged copy is joined again
        fh.truncate(1000)
    assert (bundled_dir(tmp_path) / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)


def _package_dirs() -> list[Path]:
    import importlib.util

    from podsearch.ingest.multilingual import PACKAGES

    return [Path(next(iter(importlib.util.find_spec(p).submodule_search_locations))) / "data" for p in PACKAGES]


# -- the index -------------------------------------------------------------------------


def _transcript(key: str, language: str | None, lines: list[str]) -> Transcript:
    segments = tuple(Segment(start=i * 7.0, end=i * 7.0 + 6.5, text=t) for i, t in enumerate(lines))
    return Transcript(show=f"Show {key}", episode=f"Episode {key}", guid=key, key=key, segments=segments,
                      published="2026-03-01T09:00:00+00:00", audio_url=f"https://example.org/{key}.mp3",
                      language=language)


SPANISH = ["La enfermera explica cuándo conviene la vacuna contra la gripe.",
           "Un poco de dolor en el brazo es habitual después de la inyección.",
           "Si aparece fiebre alta, llame a su centro de salud."]
ENGLISH = ["The nurse explains when to get the flu vaccine.",
           "A little pain in the arm is common after the injection.",
           "If you have a high fever, call your doctor's office."]


def indexed(db: sqlite3.Connection, table: str) -> set[int]:
    """Passage ids a keyword table's own index holds (an external-content table reads rows from `passages`)."""
    words = " OR ".join(f'"{w}"' for w in ("la", "de", "the", "a", "if", "si"))
    return {r[0] for r in db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (words,))}


@pytest.mark.slow
def test_passages_in_other_languages_are_matched_by_their_words_unstemmed(tmp_path: Path, models) -> None:  # noqa: ANN001
    index = SearchIndex(tmp_path / "index", embedder=models.embedder())
    try:
        index.add_transcript(_transcript("es1", "es", SPANISH), "h-es", min_seconds=5)
        index.add_transcript(_transcript("en1", "en", ENGLISH), "h-en", min_seconds=5)
        db = index.db
        spanish_ids = {r[0] for r in db.execute("SELECT id FROM passages WHERE key = 'es1'")}
        assert {r[0] for r in db.execute("SELECT language FROM passages WHERE key = 'es1'")} == {"es"}
        # Spanish passages are in the unstemmed table only, English ones in the Porter table only.
        assert indexed(db, "passages_fts_plain") == spanish_ids
        assert indexed(db, "passages_fts") and not indexed(db, "passages_fts") & spanish_ids

        hits = search(index, "vacuna gripe", SearchOptions(k=3))
        assert hits and hits[0].key == "es1" and hits[0].language == "es" and "vacuna" in hits[0].text
        assert hits[0].to_json()["language"] == "es"
        # Accents folded as FTS5's unicode61 folds them: "cuando" finds "cuándo".
        assert search(index, "cuando conviene", SearchOptions(k=3))[0].key == "es1"
        # Not stemmed: Porter would make "enfermeras" match "enfermera"; Spanish text is left as written.
        assert [h.key for h in search(index, "enfermeras", SearchOptions(k=3))] == []
        # The English-only sentence model gives no meaning match to Spanish text: English questions find English.
        meaning = search(index, "when should I get a flu shot", SearchOptions(k=5, mode="dense"))
        assert meaning and all(h.language == "en" for h in meaning)
        english = search(index, "flu vaccine nurse", SearchOptions(k=5))
        assert english[0].key == "en1" and english[0].language == "en"

        # Removing the episode removes its words from the unstemmed table (the triggers keep FTS5 consistent).
        assert index.remove_episode("es1")
        assert indexed(db, "passages_fts_plain") == set()
        db.execute("INSERT INTO passages_fts_plain(passages_fts_plain) VALUES ('integrity-check')")
        db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('integrity-check')")
        assert search(index, "vacuna gripe", SearchOptions(k=3)) == []
    finally:
        index.close()


# -- which model: the English model's confident start, else the multilingual detection ---------------


@pytest.mark.slow
def test_tiny_en_is_sure_of_english_and_doubts_other_languages(models, models_dir: Path) -> None:  # noqa: ANN001
    from podsearch.ingest.audio import decode_audio
    from podsearch.service.languages import surely_english

    tiny = models.engine("faster-whisper", "bundled:tiny.en", device="cpu", models_dir=models_dir)
    assert surely_english(tiny, decode_audio(DATA / "jfk.flac"))
    assert surely_english(tiny, decode_audio(DATA / "realspeech" / "audio" / "librispeech_2412-153948-0000.mp3"))
    # espeak-ng's Spanish and German: the multilingual model must tell.
    assert not surely_english(tiny, decode_audio(CLIPS / "spanish-espeak.ogg"))
    assert not surely_english(tiny, decode_audio(CLIPS / "german-espeak.ogg"))
    # Too little speech to say anything (4 s): doubt.
    assert tiny.english_logprob(decode_audio(DATA / "hotwords.mp3")) is None


@pytest.mark.slow
@MULTILINGUAL
def test_an_undeclared_english_show_never_loads_the_multilingual_model(http_server: LocalServer, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from podsearch.core.config import load_settings
    from podsearch.service.ingest_run import ingest
    from podsearch.service.models import Models
    from podsearch.service.subscriptions import add_feed

    monkeypatch.setenv("PODSEARCH_ALLOW_PRIVATE", "1")  # the feeds are served on 127.0.0.1
    settings = load_settings(tmp_path / "home")
    own = Models()  # this test's own, so what it loads is what this ingest needed
    add_feed(settings, serve_show(http_server, "speeches", "Speeches", "Inaugural address", DATA / "jfk.flac", None,
                                  "audio/flac"))
    assert ingest(settings, models=own).indexed == ["Inaugural address"]
    engines = [key for key in own.loaded() if key[0] == "engine"]
    assert [key[2] for key in engines] == ["bundled:tiny.en"], engines
    # An undeclared German show next to it: tiny.en doubts, Whisper base tells and transcribes it.
    add_feed(settings, serve_show(http_server, "pflege", "Pflege daheim", "Die Grippeimpfung",
                                  CLIPS / "german-espeak.ogg", None))
    assert ingest(settings, models=own).indexed == ["Die Grippeimpfung"]
    assert "bundled:base" in [key[2] for key in own.loaded() if key[0] == "engine"]
    from podsearch.transcripts.store import find_transcripts_by_guid

    transcript = json.loads(find_transcripts_by_guid(settings.transcripts_dir, "pflege-1")[0].read_text())
    assert (transcript["language"], transcript["model"]) == ("de", "bundled:base")


@pytest.mark.slow
@MULTILINGUAL
def test_a_wrongly_sure_start_still_ends_in_the_right_language(http_server: LocalServer, tmp_path: Path, models,  # noqa: ANN001
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from podsearch.core.config import load_settings
    from podsearch.ingest.transcribe import FasterWhisperEngine
    from podsearch.service.ingest_run import ingest
    from podsearch.service.subscriptions import add_feed
    from podsearch.transcripts.store import find_transcripts_by_guid

    # A fault no test clip produces: tiny.en sure that German is English (a foreign show that opens in English).
    monkeypatch.setattr(FasterWhisperEngine, "english_logprob", lambda self, samples, tokens=40: -0.1)
    monkeypatch.setenv("PODSEARCH_ALLOW_PRIVATE", "1")
    settings = load_settings(tmp_path / "home")
    add_feed(settings, serve_show(http_server, "pflege", "Pflege daheim", "Die Grippeimpfung",
                                  CLIPS / "german-espeak.ogg", None))
    # tiny.en hears the whole episode without confidence; the multilingual model then names it and transcribes it,
    # in the same ingest (not held, not English nonsense).
    assert ingest(settings, models=models).indexed == ["Die Grippeimpfung"]
    transcript = json.loads(find_transcripts_by_guid(settings.transcripts_dir, "pflege-1")[0].read_text())
    assert (transcript["language"], transcript["model"]) == ("de", "bundled:base")
    assert len({"gesundheit", "pflege", "schmerz", "verschwindet", "arm", "tagen", "impfen"} & words(transcript)) >= 5


# -- end to end: feeds on 127.0.0.1 -> Whisper -> index -> search -----------------------


@pytest.mark.slow
@MULTILINGUAL
def test_spanish_and_german_shows_are_transcribed_in_their_language(run: Run, tmp_path: Path, open_app,  # noqa: ANN001
                                                                     three_shows: list[str]) -> None:
    home = tmp_path / "home"
    for url in three_shows:
        run(home, "add", url)
    ingested = run(home, "ingest")
    assert "indexed 3 episode(s); 0 failed" in ingested.output, ingested.output
    assert all(" indexed " in line for line in statuses(run, home).values())

    transcripts = {(t := json.loads(p.read_text()))["episode"]: t for p in (home / "transcripts").glob("*/*.json")}
    spanish, german, english = (transcripts[t] for t in ("La vacuna de la gripe", "Die Grippeimpfung",
                                                           "Inaugural address"))
    assert (spanish["language"], german["language"], english["language"]) == ("es", "de", "en")
    # Spanish by the feed's es-ES, German by the multilingual model's own detection, English by it too.
    assert spanish["model"] == german["model"] == "bundled:base" and english["model"] == "bundled:tiny.en"
    # Words of the scripts (tests/data/languages/README.md); Whisper base mishears a few of espeak-ng's.
    spanish_words = words(spanish)
    assert len({"vacuna", "gripe", "salud", "enfermería", "dolor", "habitual", "días"} & spanish_words) >= 5, spanish_words
    german_words = words(german)
    assert len({"gesundheit", "pflege", "schmerz", "verschwindet", "arm", "tagen", "impfen"} & german_words) >= 5, \
        german_words

    found = search_json(run, home, "vacuna contra la gripe")
    assert found[0]["episode"] == "La vacuna de la gripe" and found[0]["language"] == "es"
    assert "vacuna" in found[0]["text"].lower()
    found = search_json(run, home, "Schmerz im Arm")
    assert found[0]["episode"] == "Die Grippeimpfung" and found[0]["language"] == "de"
    # The English show is unaffected: found by meaning, in English.
    found = search_json(run, home, "what can I do for my nation")
    assert found[0]["episode"] == "Inaugural address" and found[0]["language"] == "en"

    # The app's clip card says the clip is Spanish, found by its words.
    at = open_app(home, q="vacuna contra la gripe")
    # (Markdown-escaped: "Spanish \\(es\\)" shows as "Spanish (es)".)
    assert any(":material/translate: Spanish" in c.value and "matched by words" in c.value for c in at.caption)


@pytest.mark.slow
def test_without_the_multilingual_model_other_languages_are_held_not_indexed(
        run: Run, tmp_path: Path, three_shows: list[str], monkeypatch: pytest.MonkeyPatch, open_app) -> None:  # noqa: ANN001
    home = tmp_path / "home"
    for url in three_shows:
        run(home, "add", url)
    # A configured model that is not there: the same condition as the extra not being installed.
    monkeypatch.setenv("PODSEARCH_MULTILINGUAL_MODEL", str(tmp_path / "no-such-whisper-base"))
    ingested = run(home, "ingest")
    assert "indexed 1 episode(s); 0 failed" in ingested.output and "2 held" in ingested.output, ingested.output

    lines = statuses(run, home)
    assert " indexed " in lines["Inaugural address"]
    spanish, german = lines["La vacuna de la gripe"], lines["Die Grippeimpfung"]
    # One line each, naming the language (or that it is not English) and the extra to install.
    assert " held " in spanish and "Spanish (es): not indexed" in spanish and MULTILINGUAL_EXTRA in spanish
    assert " held " in german and "does not sound like English" in german and MULTILINGUAL_EXTRA in german
    # Never nonsense: nothing of either is in the index or on disk, and no English passage says "vacuna".
    db = sqlite3.connect(home / "data" / "index" / "index.sqlite")
    try:
        assert [r[0] for r in db.execute("SELECT episode FROM episodes")] == ["Inaugural address"]
        before = db.execute("SELECT id, text FROM passages ORDER BY id").fetchall()
    finally:
        db.close()
    assert len(list((home / "transcripts").glob("*/*.json"))) == 1
    assert search_json(run, home, "vacuna contra la gripe") == []
    # The app's Library page shows the same line.
    library = open_app(home, page="Library")
    assert any("La vacuna de la gripe: Spanish" in w.value and "not indexed" in w.value and "multilingual" in w.value
               for w in library.warning), [w.value for w in library.warning]

    # The Spanish episode is held again at once (no download); the English one stays as it was.
    again = run(home, "ingest")
    assert "indexed 0 episode(s); 0 failed; 0 feed(s) failed; 2 held" in again.output, again.output
    assert again.output.count("Spanish (es): not indexed") == 1  # one line, not a warning and a summary
    if not_installed() is not None:
        pytest.skip(f"the rest needs the multilingual model ({MULTILINGUAL_EXTRA})")

    # Installing the extra (here: the setting back to the installed model) and ingesting again picks them up.
    monkeypatch.delenv("PODSEARCH_MULTILINGUAL_MODEL")
    picked = run(home, "ingest")
    assert "indexed 2 episode(s); 0 failed" in picked.output and "held" not in picked.output, picked.output
    assert all(" indexed " in line for line in statuses(run, home).values())
    assert search_json(run, home, "vacuna contra la gripe")[0]["language"] == "es"
    db = sqlite3.connect(home / "data" / "index" / "index.sqlite")
    try:
        kept = db.execute("SELECT id, text FROM passages WHERE key IN (SELECT key FROM episodes"
                          " WHERE episode = 'Inaugural address') ORDER BY id").fetchall()
    finally:
        db.close()
    assert kept == before  # nothing already ingested was lost or redone
