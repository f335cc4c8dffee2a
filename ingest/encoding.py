"""Feed bytes in any declared or sniffed encoding -> UTF-8 bytes that say so.

Expat (under defusedxml) cannot read multi-byte legacy encodings such as
GB2312, Big5 or EUC-KR, and a UTF-16 file without a byte-order mark trips
parsers that look for one. So every feed is decoded once here, the same way
for both parsers: byte-order mark, else the XML declaration, else
charset-normalizer's guess, and re-encoded as UTF-8 with its declaration
rewritten to match.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" as it starts a document in UTF-16/32 without a byte-order mark.
_BOMLESS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_DECLARATION_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._:-]+)(["'])""")
# Legacy names decoded with the superset publishers' tools actually write (as browsers do).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "euc-kr": "cp949",
    "euc_kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}


def _declared(data: bytes) -> str | None:
    match = _DECLARATION.match(data[:1024])
    return match.group(1).decode("ascii").lower() if match else None


def _codec(name: str) -> str | None:
    """A Python codec for an encoding name, None if unknown."""
    name = _SUPERSETS.get(name.lower(), name)
    # A "UTF-16" label without a BOM says nothing about byte order: the sniff decides.
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) from the BOM, the bytes' shape, or the declaration; None to guess."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), codec
            except UnicodeDecodeError:
                return None
    for head, codec in _BOMLESS:
        if data.startswith(head):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                return None
    declared = _declared(data)
    codec = _codec(declared) if declared else "utf-8"
    if codec is None or codec.startswith(("utf-16", "utf-32")):
        return None  # an unknown name, or a wide encoding the bytes' shape did not confirm
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError:
        return None


def to_utf8(data: bytes) -> bytes:
    """`data` as UTF-8 with a matching XML declaration; UTF-8 input comes back unchanged."""
    decoded = _decode(data)
    if decoded is not None and decoded[1] == "utf-8" and not data.startswith(codecs.BOM_UTF8):
        return data
    if decoded is None:
        best = from_bytes(data).best()
        # Nothing plausible: keep the bytes; the parsers' own recovery gets its chance.
        text = str(best) if best is not None else data.decode("utf-8", errors="replace")
    else:
        text = decoded[0]
    text = _DECLARATION_TEXT.sub(r"\g<1>utf-8\g<3>", text, count=1)
    return text.encode("utf-8")


__all__ = ["to_utf8"]
