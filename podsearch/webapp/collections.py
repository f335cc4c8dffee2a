"""The Collections page (`?collection=NAME`): ordered, annotated clip collections and their exports."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from podsearch.core.clock import timestamp
from podsearch.core.config import Settings
from podsearch.service import exports
from podsearch.service.clips import clips_zip
from podsearch.service.library import Library
from podsearch.service.playback import playable_audio
from podsearch.webapp import state
from podsearch.webapp.addresses import open_episode, sync_url
from podsearch.webapp.widgets import call_library, md, player


def _save_note(item_id: int) -> None:
    call_library(Library.annotate_item, item_id, st.session_state.get(f"ann_{item_id}", ""))


def _create_collection() -> None:
    name = (st.session_state.get("new_collection") or "").strip()
    if name:
        call_library(Library.create_collection, name)
        st.session_state["collection"] = name
        st.session_state["new_collection"] = ""


def resolve_audio(settings: Settings):  # noqa: ANN201 - Callable[[dict], Path | None]
    """For the ZIP: the local audio of a hit, downloaded into the cache when it is only on the web."""

    def resolve(hit: dict) -> Path | None:
        source = playable_audio(settings, hit.get("audio_url"))
        if source is None:
            return None
        if source.startswith(exports.WEB):
            from podsearch.ingest.download import download

            return download(source, settings.audio_dir, settings=settings, expected_type="audio")
        return Path(source)

    return resolve


def collection_item(n: int, count: int, name: str, item: dict) -> None:
    """One saved clip: quote, player, order, note, removal."""
    hit, iid = item["hit"], item["id"]
    with st.container(border=True, key=f"item_{iid}"):
        st.markdown(f"**{n + 1}. {md(hit['episode'])}** · {md(hit['show'])}")
        st.caption(f"{md(hit.get('published') or 'undated')} · :material/schedule: {timestamp(hit['start'])}–{timestamp(hit['end'])}"
                   + (f" · :material/menu_book: {md(hit['chapter'])}" if hit.get("chapter") else ""))
        st.markdown(f"> {md(hit['text'])}")
        player(hit.get("audio_url"), hit["start"], hit["end"])
        st.text_input("Note", value=item["note"], key=f"ann_{iid}", on_change=_save_note, args=(iid,),
                      placeholder="Why this clip? (goes into the handout)")
        with st.container(horizontal=True, gap="small"):
            st.button("Up", key=f"up_{iid}", icon=":material/arrow_upward:", disabled=n == 0,
                      on_click=call_library, args=(Library.move_item, name, iid, -1))
            st.button("Down", key=f"down_{iid}", icon=":material/arrow_downward:", disabled=n == count - 1,
                      on_click=call_library, args=(Library.move_item, name, iid, +1))
            st.button("Remove", key=f"rm_{iid}", icon=":material/delete:", on_click=call_library,
                      args=(Library.remove_item, iid))
            if hit.get("key") or hit.get("guid"):
                st.button("Episode view", key=f"epv_{iid}", icon=":material/subject:", on_click=open_episode,
                          args=(hit.get("key") or hit["guid"], hit["start"], hit["end"]))


def collection_exports(settings: Settings, name: str, items: list[dict]) -> None:
    """Downloads (handout, playlist, table, audio ZIP) and a preview to copy from."""
    handout, playlist, table = exports.markdown_handout(name, items), exports.m3u_playlist(name, items), exports.csv_table(items)
    st.subheader("Export")
    with st.container(horizontal=True, gap="small"):
        st.download_button("Handout (Markdown)", handout, file_name=f"{name}.md", mime="text/markdown",
                           icon=":material/description:", key="dl_md")
        st.download_button("Playlist (M3U)", playlist, file_name=f"{name}.m3u", mime="audio/x-mpegurl",
                           icon=":material/queue_music:", key="dl_m3u")
        st.download_button("Table (CSV)", table, file_name=f"{name}.csv", mime="text/csv",
                           icon=":material/table:", key="dl_csv")
        # Cut only when asked: the callable runs on click, off the page's thread.
        st.download_button("Audio clips (ZIP)", lambda: clips_zip(items, resolve_audio(settings), name),
                           file_name=f"{name}.zip", mime="application/zip", icon=":material/folder_zip:", key="dl_zip")
    with st.expander("Preview the exports"):
        for label, text, language in (("Markdown handout", handout, "markdown"), ("M3U playlist", playlist, None),
                                      ("CSV table", table, None)):
            st.caption(label)
            st.code(text, language=language, wrap_lines=True)


def render() -> None:
    """The page: pick or create a collection, then its clips and exports."""
    settings = state.settings()
    st.header("Clip collections")
    with state.library() as library:
        names = library.collections()
        with st.container(horizontal=True, gap="small", vertical_alignment="bottom"):
            st.text_input("New collection", key="new_collection", placeholder="e.g. Week 3: breaking bad news")
            st.button("Create", key="create_collection", on_click=_create_collection)
        if not names:
            st.info("No collections yet. Save clips from search results with “Save to collection”.")
            sync_url({})
            return
        if st.session_state.get("collection") not in names:
            wanted = st.query_params.get("collection")
            st.session_state["collection"] = wanted if wanted in names else names[0]
        name = st.selectbox("Collection", names, key="collection")
        items = library.collection_items(name)
    if not items:
        st.info("This collection is empty. Save clips into it from search results.")
    for n, item in enumerate(items):
        collection_item(n, len(items), name, item)
    if items:
        collection_exports(settings, name, items)
    with st.popover("Delete collection", icon=":material/delete_forever:"):
        st.button(f"Delete “{md(name)}” and its {len(items)} clip(s)", key="delete_collection", type="primary",
                  on_click=call_library, args=(Library.delete_collection, name))
    sync_url({"collection": name})
