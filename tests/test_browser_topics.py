"""The Topics page in a real headless Chromium (`streamlit run app.py`), as tests/test_browser.py drives the app.

The home holds four conversations of the conversations dev set (their real spoken sentences, as publisher
transcripts) over one long recording, so every clip's moment is inside its audio; the topic map is drawn
by the ingest.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from appserver import streamlit_app
from audiofiles import repeated_jfk
from test_app import write_feed
from test_browser import WAIT_MS, audio_state, browser, shot  # noqa: F401 - `browser` is a fixture
from test_chapters import APART, sentences, vtt

from podsearch.core.config import load_settings
from podsearch.service.home import Home
from podsearch.service.ingest_run import ingest
from podsearch.service.models import Models
from podsearch.service.subscriptions import add_feed
from podsearch.service.topics import topic_clips

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a browser and the app's models


def test_topics_page_shows_a_topic_and_plays_and_opens_its_clip(tmp_path: Path, browser,  # noqa: ANN001, F811
                                                                models: Models) -> None:
    settings = load_settings(tmp_path / "home")
    feed = tmp_path / "feed"
    feed.mkdir()
    repeated_jfk(feed / "long.flac", 16)  # 176 s: longer than every conversation
    items = [{"title": stem, "guid": stem, "date": f"Tue, 0{n + 3} Mar 2026 09:00:00 GMT",
              "vtt": vtt(sentences((stem,))[0]), "audio": "long.flac"} for n, stem in enumerate(APART)]
    add_feed(settings, str(write_feed(feed, "Care Conversations", items)))
    assert not ingest(settings, models=models).episode_errors
    with Home(settings, models).index() as index:
        found = topic_clips(index)  # what the index holds: the page must show exactly this
    assert len(found) >= 2, "the ingest drew the topic map"
    first = found[0].clips[0]

    with streamlit_app(settings.home, tmp_path / "streamlit.log") as (base, _):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"{base}/topics", wait_until="domcontentloaded")
            card = page.locator(".st-key-card_0")
            card.wait_for(timeout=WAIT_MS)
            main = page.locator("[data-testid=stMain]").inner_text()
            picker = page.get_by_role("combobox", name="Topic")
            assert picker.input_value() == f"{found[0].label} · {found[0].episodes} episode"  # the largest first
            assert f"Terms: {', '.join(found[0].terms)}" in main
            assert f"Care Conversations · {first.episode}" in card.inner_text()
            assert page.locator("[class*='st-key-card_']").count() == len(found[0].clips)

            # The clip plays from its moment and stops by itself at its end.
            audio = audio_state(page, ".st-key-card_0 audio")
            assert "/media/" in audio["src"] and audio["t"] == int(first.start) and audio["d"] > first.end
            page.eval_on_selector(".st-key-card_0 audio", "a => { a.muted = true; a.playbackRate = 4; a.play(); }")
            page.wait_for_function("() => document.querySelector('.st-key-card_0 audio').paused", timeout=WAIT_MS)
            stopped = page.eval_on_selector(".st-key-card_0 audio", "a => a.currentTime")
            assert math.ceil(first.end) <= stopped < math.ceil(first.end) + 2
            shot(page, "topics-desktop")

            # Another topic, picked from the list, shows its own clips.
            other = found[-1]
            picker.click()
            page.get_by_role("option", name=f"{other.label} · ").click()
            page.locator(".st-key-card_0", has_text=other.clips[0].episode).wait_for(timeout=WAIT_MS)
            page.get_by_text(f"Terms: {', '.join(other.terms)}").wait_for(timeout=WAIT_MS)
            card = page.locator(".st-key-card_0")
            first = other.clips[0]

            # And a clip opens in the episode view at its moment.
            card.get_by_role("button", name="Episode view").click()
            page.wait_for_url(lambda url: "/episode?" in url and f"episode={first.key}" in url, timeout=WAIT_MS)
            page.locator(".st-key-transcript").wait_for(timeout=WAIT_MS)
            assert audio_state(page, "audio")["t"] == int(first.start)
        finally:
            page.close()
