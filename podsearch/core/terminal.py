"""Text from feeds made safe to print on a terminal (pure text, no I/O).

Titles and transcripts are written by strangers. Escape sequences in them
(OSC window titles, hyperlinks, clipboard writes, CSI cursor moves), other C0/
C1 controls and bidi overrides would be obeyed by the terminal that shows them.
Every control is replaced by something visible instead: C0 controls in caret
notation (ESC -> "^["), DEL as "^?", C1 controls and bidi controls as U+FFFD.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
# Bidi embeddings/overrides/isolates and marks (they reorder what follows on the line).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_C0_KEEP_NEWLINES = "\x00-\x08\x0b-\x1f"  # keeps \t and \n
_CONTROLS = re.compile(f"[{_C0_KEEP_NEWLINES}\x7f\x80-\x9f{_BIDI}]")
_CONTROLS_AND_NEWLINES = re.compile(f"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u2028\u2029{_BIDI}]")
# Characters JSON leaves raw but a terminal may obey (C1 CSI = \x9b) or reorder by.
_JSON_RAW = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return REPLACEMENT


def clean(text: str) -> str:
    """`text` with every control made visible, keeping tabs and the newlines that structure it.

    CR LF becomes LF; a lone CR (which would overwrite the line) shows as "^M".
    """
    return _CONTROLS.sub(_visible, text.replace("\r\n", "\n"))


def clean_line(text: str) -> str:
    """`text` for one line of output: like `clean`, with newlines shown as "^J" too."""
    return _CONTROLS_AND_NEWLINES.sub(_visible, text)


def clean_json(text: str) -> str:
    """JSON text with the controls JSON leaves raw written as \\u escapes (the same JSON value)."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
