"""Transcript files on disk: HOME/transcripts/<show>/<episode>.json plus .vtt.

The JSON file is the source of truth for search: the index can always be
rebuilt from these files alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from podsearch.core.records import Transcript, to_dict, transcript_from_dict


def slugify(text: str, max_len: int = 60) -> str:
    """A file-name-safe, readable slug ("Calm Care: Ep 1" -> "calm-care-ep-1")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "untitled"


def guid_tag(guid: str) -> str:
    """A short stable hash of an episode's key (a guid for files from before keys); keeps files unique."""
    return hashlib.sha256(guid.encode("utf-8")).hexdigest()[:10]


def transcript_path(transcripts_dir: Path, show: str, episode: str, key: str) -> Path:
    """Where the JSON transcript of an episode (by its key, `Transcript.id`) lives."""
    return transcripts_dir / slugify(show) / f"{slugify(episode)}-{guid_tag(key)}.json"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def transcript_json(transcript: Transcript) -> bytes:
    """The canonical JSON bytes of a transcript (stable key order)."""
    data = to_dict(transcript)
    if not data["notes"]:
        del data["notes"]  # files (and content hashes) of transcripts without fallbacks stay as they were
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def content_hash(transcript: Transcript) -> str:
    """Hash of a transcript's content: the index skips work it has done before."""
    return hashlib.sha256(transcript_json(transcript)).hexdigest()


def save_transcript(transcript: Transcript, transcripts_dir: Path) -> Path:
    """Write the transcript's .json and .vtt; returns the .json path."""
    from podsearch.transcripts.formats import write_transcript  # formats imports records only

    path = transcript_path(transcripts_dir, transcript.show, transcript.episode, transcript.id)
    atomic_write(path.with_suffix(".vtt"), write_transcript(transcript, "vtt").encode("utf-8"))
    # JSON last: its presence marks the episode as transcribed.
    atomic_write(path, transcript_json(transcript))
    return path


def load_transcript(path: Path) -> Transcript:
    """Read a transcript JSON file written by `save_transcript`."""
    return transcript_from_dict(json.loads(path.read_text(encoding="utf-8")))


def iter_transcript_files(transcripts_dir: Path) -> Iterator[Path]:
    """Every transcript JSON file under the directory, in a stable order."""
    if not transcripts_dir.is_dir():
        return iter(())
    return iter(sorted(p for p in transcripts_dir.glob("*/*.json") if not p.name.startswith(".")))


def find_transcript(transcripts_dir: Path, key: str) -> Path | None:
    """The JSON transcript of the episode with this key (or, for old files, guid), if one was written."""
    for path in sorted(transcripts_dir.glob(f"*/*-{guid_tag(key)}.json")):
        return path
    return None


def find_transcripts_by_guid(transcripts_dir: Path, guid: str) -> list[Path]:
    """Every transcript whose publisher guid is `guid` (files may come from several shows)."""
    found = []
    for path in iter_transcript_files(transcripts_dir):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("guid") == guid:
                found.append(path)
        except (OSError, ValueError):
            continue  # a damaged file is not the one asked for
    return found


def remove_transcript(path: Path) -> None:
    """Delete a transcript's .json and .vtt (missing files are fine)."""
    path.with_suffix(".vtt").unlink(missing_ok=True)
    path.unlink(missing_ok=True)
