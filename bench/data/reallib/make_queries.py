"""Writes queries.json: each question written by hand for one sentence located by hand (episode, segment
index as bench/reallib.py numbers them), the answer span that sentence and the next; times from reallib."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from reallib import episodes  # noqa: E402

QUESTIONS = [
    ("brain-science-25", 100, "does caffeine affect anxious people differently"),
    ("brain-science-25", 225, "why a drug never feels as good as the first time"),
    ("brain-science-25", 496, "shoppers who scrutinise keto labels"),
    ("brain-science-25", 754, "how she evaluates products beyond just tasting them"),
    ("changelog--friends-98", 316, "handing a teammate an extra side project"),
    ("changelog--friends-98", 709, "AI tools take over the budget once spent on people"),
    ("changelog--friends-98", 1088, "a robot instead of a teenager for chores"),
    ("founders-talk-94", 163, "why collaboration apps cannot be built on an open protocol"),
    ("founders-talk-94", 340, "making decisions as a remote distributed company"),
    ("founders-talk-94", 528, "in the end a company is about telling stories"),
    ("go-time-97", 238, "the context package unpacking itself"),
    ("go-time-97", 836, "a first job where senior developers taught him to write good code"),
    ("go-time-97", 1022, "remote hiring when there are few local employers"),
    ("go-time-99", 119, "is the team ready to take on a junior developer"),
    ("go-time-99", 269, "use the standard library before third-party packages"),
    ("go-time-99", 416, "stuck late at night and someone in Europe helped"),
    ("js-party-93", 116, "a book you can pick up without reading it cover to cover"),
    ("js-party-93", 259, "working a week on the wrong thing after a misunderstanding"),
    ("js-party-93", 407, "communicating with non-technical colleagues applies to developers too"),
    ("js-party-97", 152, "choosing a technology because the situation forces it"),
    ("js-party-97", 341, "learning how a library works by building it rather than watching a talk"),
    ("js-party-97", 539, "writing VuePress plugins without knowing how they work"),
    ("practical-ai-98", 76, "postdoc at Facebook on translation and question answering"),
    ("practical-ai-98", 168, "how attention feeds probabilities back into the network"),
    ("practical-ai-98", 264, "giving every model the same simple interface"),
    ("practical-ai-99", 84, "practice problems unlike interview coding questions"),
    ("practical-ai-99", 198, "telling whether a change to a picture is invisible"),
    ("practical-ai-99", 286, "generating text that tricks a language model"),
    ("ship-it-98", 34, "a new 3D printer that uses up spools quickly"),
    ("ship-it-98", 166, "even small projects need patching because of their dependencies"),
    ("ship-it-98", 355, "does a fixed release schedule burn out maintainers"),
    ("ship-it-98", 550, "a cloud outage stops the release job from running"),
    ("ship-it-99", 159, "firefighters who are mostly volunteers"),
    ("ship-it-99", 362, "a tool that starts a development environment with the right versions and services"),
    ("ship-it-99", 557, "when are Nix symlinks loaded"),
    ("the-changelog-671", 202, "executives asked the team to interrupt less"),
    ("the-changelog-671", 344, "a simple database join became a two week project"),
    ("the-changelog-671", 436, "removing an anchor that held the company back"),
    ("the-changelog-671", 646, "computers as a bicycle for the mind"),
    ("the-changelog-671", 679, "starting a company used to need servers and Oracle licences"),
]

if __name__ == "__main__":
    by_key = {t.key: t for t in episodes()}
    out = []
    for key, idx, query in QUESTIONS:
        segs = by_key[key].segments
        said = [segs[idx]] + [s for s in segs[idx + 1 : idx + 2] if s.speaker == segs[idx].speaker]
        out.append({"query": query, "guid": key, "start": said[0].start, "end": said[-1].end, "segment": idx,
                    "kind": "paraphrase", "answer": " ".join(s.text for s in said)})
    path = Path(__file__).with_name("queries.json")
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(out)} queries -> {path}")
