"""Citations and collection exports (Markdown handout, M3U playlist, CSV): pure text."""

from __future__ import annotations

import csv
import io


def clock(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def deep_link(hit: dict) -> str | None:
    """A link that opens the episode's audio at the clip (media fragment #t=)."""
    url = hit.get("audio_url") or hit.get("link")
    if not url:
        return None
    return f"{url.split('#')[0]}#t={hit['start']:.0f}"


def citation(hit: dict) -> str:
    """A one-line citation: show, episode, date, timestamp, link."""
    date = hit.get("published") or "n.d."
    link = deep_link(hit)
    return (f"{hit['show']}, “{hit['episode']}” ({date}), at {clock(hit['start'])}–{clock(hit['end'])}"
            + (f". {link}" if link else "."))


def markdown_handout(name: str, items: list[dict]) -> str:
    """A handout: each clip's quote, note and citation, in collection order."""
    lines = [f"# {name}", ""]
    for n, item in enumerate(items, 1):
        hit = item["hit"]
        lines.append(f"## {n}. {hit['episode']} — {clock(hit['start'])}")
        lines.append("")
        lines.append(f"> {hit['text']}")
        lines.append("")
        if item.get("note"):
            lines.append(item["note"])
            lines.append("")
        link = deep_link(hit)
        lines.append(f"*Source:* {citation(hit)}" if not link else
                     f"*Source:* {hit['show']}, “{hit['episode']}” ({hit.get('published') or 'n.d.'}), "
                     f"[{clock(hit['start'])}–{clock(hit['end'])}]({link})")
        lines.append("")
    return "\n".join(lines)


def m3u_playlist(name: str, items: list[dict]) -> str:
    """An extended M3U playlist; each entry starts at its clip (#t= fragment)."""
    lines = ["#EXTM3U", f"#PLAYLIST:{name}"]
    for item in items:
        hit = item["hit"]
        length = max(1, round(hit["end"] - hit["start"]))
        lines.append(f"#EXTINF:{length},{hit['show']} - {hit['episode']} @ {clock(hit['start'])}")
        lines.append(deep_link(hit) or "")
    return "\n".join(lines) + "\n"


def csv_table(items: list[dict]) -> str:
    """One row per clip: position, show, episode, date, start, end, text, note, link."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["position", "show", "episode", "published", "start", "end", "text", "note", "link"])
    for n, item in enumerate(items, 1):
        hit = item["hit"]
        writer.writerow([n, hit["show"], hit["episode"], hit.get("published") or "", f"{hit['start']:.2f}",
                         f"{hit['end']:.2f}", hit["text"], item.get("note", ""), deep_link(hit) or ""])
    return out.getvalue()
