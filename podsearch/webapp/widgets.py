"""Widgets more than one page shows: escaping, the audio player, the search filters, the clip card."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import mimetypes
from pathlib import Path

import streamlit as st

from podsearch.core.clock import timestamp
from podsearch.core.markup import escape_markdown
from podsearch.core.errors import PodsearchError
from podsearch.core.records import SOUNDBITE, Hit
from podsearch.index.search import Filters, SearchOptions, context
from podsearch.service import exports
from podsearch.service.words import unsure_chunks
from podsearch.service.playback import playable_audio
from podsearch.webapp import roles, state
from podsearch.webapp.addresses import SOURCES, open_episode, parse_date, share

SOURCE_LABELS = {"publisher": "Publisher transcript", "whisper": "Whisper transcript (automatic)"}
NEW_COLLECTION = "+ New collection…"
# Stretches that are not the conversation, labelled wherever a clip or a line shows them.
KIND_LABELS = {"sponsor": ":violet-badge[:material/campaign: Sponsor read]",
               "intro": ":gray-badge[:material/start: Intro]", "outro": ":gray-badge[:material/last_page: Outro]",
               SOUNDBITE: ":blue-badge[:material/format_quote: Publisher's soundbite]"}
# The hit's absolute confidence (index.search.confidence): the same meaning for every query.
CONFIDENCE_BADGES = {"strong": ":green-badge[:material/verified: Strong match]",
                     "partial": ":orange-badge[:material/contrast: Partial match]",
                     "weak": ":gray-badge[:material/help: Weak match]"}
UNSURE_TITLE = "Whisper was unsure of this word"
AUDIO_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
               ".opus": "audio/ogg", ".flac": "audio/flac", ".wav": "audio/wav"}


# -- text --------------------------------------------------------------------------------
md = escape_markdown  # the one escaper (podsearch.core.markup), under the short name the pages use
_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def marked(text: str, query: str) -> str:
    """Text with the query's words in <mark>, every other character literal (for Markdown with HTML on)."""
    out, last = [], 0
    highlighted = exports.highlight_html(text, query)
    for match in _MARK.finditer(highlighted):
        out += [md(html.unescape(highlighted[last:match.start()])), f"<mark>{md(html.unescape(match.group(1)))}</mark>"]
        last = match.end()
    out.append(md(html.unescape(highlighted[last:])))
    return "".join(out)


def quote_html(text: str, query: str, unsure: list[tuple[str, bool]] | None = None) -> str:
    """`marked(text, query)`, the words Whisper was unsure of wrapped in `<span class="unsure">`.

    `unsure` is `text` cut into words with a flag each (service.words.unsure_chunks); feed text stays literal.
    """
    if not unsure or not any(flag for _, flag in unsure):
        return marked(text, query)
    out = []
    for chunk, flag in unsure:
        word, space = chunk.rstrip(), chunk[len(chunk.rstrip()):]
        piece = marked(word, query)
        out.append((f'<span class="unsure" title="{UNSURE_TITLE}">{piece}</span>' if flag and word else piece) + space)
    return "".join(out)


def plural(n: int, noun: str) -> str:
    """`1 episode`, `2 episodes`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def when(iso: str | None) -> str:
    """An ISO timestamp as `2026-03-02 09:00 UTC` (or `never`)."""
    if not iso:
        return "never"
    try:
        moment = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# -- audio -------------------------------------------------------------------------------
def audio_format(source: str) -> str:
    """The MIME type the browser needs to play `source`."""
    path = source.split("?")[0].split("#")[0]
    known = AUDIO_TYPES.get(Path(path).suffix.lower())
    guessed, _ = mimetypes.guess_type(path)
    return known or (guessed if guessed and guessed.startswith("audio/") else "audio/mpeg")


def player(audio_url: str | None, start: float = 0.0, end: float | None = None, autoplay: bool = False) -> None:
    """An audio player that starts at `start` and stops at `end` (whole seconds, widened to cover the clip)."""
    source = playable_audio(state.settings(), audio_url)
    if not source:
        st.caption(":material/volume_off: No playable audio for this episode.")
        return
    first = int(start)
    last = max(math.ceil(end), first + 1) if end is not None else None
    st.audio(source, format=audio_format(source), start_time=first, end_time=last, autoplay=autoplay)


# -- filters -----------------------------------------------------------------------------
def widget_default(key: str, default: object) -> dict:
    """`value=default` unless the widget is seeded through session state (Streamlit warns about both)."""
    return {} if key in st.session_state else {"value": default}


def _replace_state(key: str, fix) -> None:  # noqa: ANN001 - Callable[[object], object]
    # Written only when it changes: rewriting a widget's state would drop the user's latest input.
    if key in st.session_state and (fixed := fix(st.session_state[key])) != st.session_state[key]:
        st.session_state[key] = fixed


def filters_summary() -> str:
    """What the filters restrict, for the collapsed expander's label (`· Show A · 2025-01-01 to …`)."""
    picked = [", ".join(st.session_state.get("f_shows") or []),
              ", ".join(SOURCE_LABELS[s] for s in st.session_state.get("f_sources") or [] if s in SOURCE_LABELS),
              " to ".join(d.isoformat() for d in st.session_state.get("f_dates") or ()),
              st.session_state.get("f_person") or "", st.session_state.get("f_speaker") or "",
              "sponsor reads included" if st.session_state.get("f_ads") else ""]
    return "".join(f" · {md(p)}" for p in picked if p)  # show and person names come from feeds


def filters_ui(episodes: list, people: list[str] = (), speakers: list[str] = ()) -> SearchOptions:
    """Show, transcript source, date, person and speaker filters, sponsor reads and the result count."""
    shows = sorted({e.show for e in episodes})
    dates = [d for d in (parse_date(e.published) for e in episodes) if d]
    low = min(dates, default=dt.date(1990, 1, 1))
    high = dt.date(max(dates + [dt.date.today()]).year, 12, 31)  # room to type "until the end of the year"
    # A shared link may name a show this library lacks, or dates outside its range.
    _replace_state("f_shows", lambda v: [s for s in v if s in shows])
    _replace_state("f_dates", lambda v: tuple(min(max(d, low), high) for d in v))
    _replace_state("f_person", lambda v: v if v in people else None)
    _replace_state("f_speaker", lambda v: v if v in speakers else None)
    with st.expander("Filters" + filters_summary()):
        cols = st.columns(3)
        chosen = cols[0].multiselect("Show", shows, key="f_shows", placeholder="All shows")
        sources = cols[1].multiselect("Transcript source", SOURCES, key="f_sources", placeholder="Any source",
                                      format_func=lambda s: SOURCE_LABELS[s])
        picked = cols[2].date_input("Published between", min_value=low, max_value=high, key="f_dates",
                                    format="YYYY-MM-DD", value=())  # () keeps it a range picker
        cols = st.columns(3, vertical_alignment="bottom")
        # Only where the feeds name people (podcast:person) or transcripts name speakers.
        person = cols[0].selectbox("Person or speaker", list(people), key="f_person", placeholder="Anyone",
                                   **({} if "f_person" in st.session_state else {"index": None})) if people else None
        speaker = cols[1].selectbox("Speaking in the clip", list(speakers), key="f_speaker", placeholder="Any speaker",
                                    **({} if "f_speaker" in st.session_state else {"index": None})) if speakers else None
        ads = cols[2].toggle("Include sponsor reads", key="f_ads", **widget_default("f_ads", False),
                             help="Sponsor reads are left out of results unless this is on.")
        k = st.slider("Clips to show", 1, 20, key="k", **widget_default("k", 5))
    picked = tuple(picked or ())
    filters = Filters(
        shows=tuple(chosen), sources=tuple(sources),
        date_from=picked[0].isoformat() if len(picked) >= 1 else None,
        date_to=picked[1].isoformat() if len(picked) >= 2 else None,
        person=person or None, speaker=speaker or None,
    )
    return SearchOptions(k=k, filters=filters, include_ads=bool(ads))


# -- the clip card -----------------------------------------------------------------------
def save_popover(i: int, hit: Hit) -> None:
    """Save a hit into a (new or existing) named collection, with a note."""
    with st.popover("Save to collection", icon=":material/bookmark_add:"), state.library() as library:
        names = library.collections()
        name = st.selectbox("Collection", names + [NEW_COLLECTION], key=f"col_{i}")
        if name == NEW_COLLECTION:
            name = st.text_input("New collection name", key=f"newcol_{i}", placeholder="e.g. Week 3: de-escalation")
        note = st.text_input("Note (optional)", key=f"note_{i}")
        if st.button("Save clip", key=f"save_{i}", type="primary"):
            if not (name or "").strip():
                st.error("Give the collection a name.")
            else:
                library.add_to_collection(name.strip(), hit.to_json(), note)
                st.success(f"Saved to “{md(name.strip())}”.")


def clip_context(hit: Hit) -> None:
    """The transcript around a clip, the clip's own lines in bold."""
    with state.locked_index() as index:
        around = context(index, hit)
    for seg in around:
        speaker = f"{md(seg.speaker)}: " if seg.speaker else ""
        line = f"`{timestamp(seg.start)}` {speaker}{md(seg.text)}"
        st.markdown(f"**{line}**" if hit.start <= seg.start < hit.end else line)


def admin_allowed() -> bool:
    """Whether this session may use admin controls (renaming speakers…): the app's roles decide (an admin
    signed in, or nobody configured; never in a read-only app). Every admin control of the pages asks here."""
    return roles.is_admin(state.settings())


def clip_quote(hit: Hit, query: str) -> str:
    """The clip's quote as Markdown with HTML: query words marked, words Whisper was unsure of underlined."""
    if hit.source != "whisper":
        return quote_html(hit.text, query)  # publisher transcripts carry no word probabilities
    settings = state.settings()
    try:
        words = state.clip_words(hit.key or hit.guid, hit.start, hit.end)
    except PodsearchError as exc:
        st.caption(f":material/warning: {md(exc)}")
        words = ()
    return quote_html(hit.text, query, unsure_chunks(hit.text, words, settings.unsure_word_probability))


def hit_card(i: int, hit: Hit, query: str) -> None:
    """One evidence card: where it was said, the quote, the clip, and what to do with it."""
    data = hit.to_json()
    with st.container(border=True, key=f"card_{i}"):
        st.markdown(f"**{md(hit.show)}** · {md(hit.episode)}")
        meta = [md(hit.published or "undated"), f":material/schedule: {timestamp(hit.start)}–{timestamp(hit.end)}"]
        if hit.chapter:
            meta.append(f":material/menu_book: {md(hit.chapter)}")
        if hit.speaker:
            meta.append(f":material/record_voice_over: {md(hit.speaker)}")  # who says the answer
        if hit.kind in KIND_LABELS:
            meta.append(KIND_LABELS[hit.kind])
        meta.append(CONFIDENCE_BADGES.get(hit.confidence, CONFIDENCE_BADGES["weak"]))
        meta.append(f":blue-badge[{SOURCE_LABELS.get(hit.source) or md(hit.source)}]")
        meta.append(":orange-badge[:material/warning: may contain transcription errors]" if hit.flagged
                    else ":green-badge[:material/check: no quality warnings]")
        st.caption(" · ".join(meta))
        st.markdown(f"> {clip_quote(hit, query)}", unsafe_allow_html=True)
        player(hit.audio_url, hit.start, hit.end)
        with st.container(horizontal=True, gap="small"):
            link = exports.deep_link(data)
            if link and link.startswith(exports.WEB):
                st.link_button(f"Open original at {timestamp(hit.start)}", link, icon=":material/open_in_new:")
            st.button("Episode view", key=f"ep_{i}", icon=":material/subject:", on_click=open_episode,
                      args=(hit.key, hit.start, hit.end))
            with st.popover("Cite & share", icon=":material/format_quote:"):
                st.caption("Citation (copy with the icon on the right)")
                st.code(exports.citation(data), language=None, wrap_lines=True)
                st.caption("Link to this clip in podsearch")
                st.code(share(exports.clip_params(data)), language=None, wrap_lines=True)
            save_popover(i, hit)
        with st.expander("More context"):
            clip_context(hit)


def call_library(method, *args: object) -> None:  # noqa: ANN001 - an unbound Library method
    """Callback: `method(library, *args)` on a catalog connection of its own, e.g. `Library.remove_item`."""
    with state.library() as library:
        method(library, *args)

