"""The Watching page in a real headless Chromium (`streamlit run app.py`), as tests/test_browser.py drives the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from appserver import wait_healthy
from httpserver import LocalServer
from test_browser import ROOT, WAIT_MS, browser, free_port, shot  # noqa: F401 - `browser` is a fixture
from test_watches import watched_library

from podsearch.service.models import Models
from podsearch.service.watches import watch_book

pytestmark = pytest.mark.browser


def test_the_watching_page_in_chromium_shows_new_clips_and_marks_them_read(
        tmp_path: Path, http_server: LocalServer, browser, models: Models) -> None:  # noqa: ANN001, F811 - Browser, the imported fixture
    settings, entries = watched_library(tmp_path / "home", http_server, models)

    port = free_port()
    log_path = tmp_path / "streamlit.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env={**os.environ, "PODSEARCH_HOME": str(settings.home), "PODSEARCH_ALLOW_PRIVATE": "1"},
            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        wait_healthy(base, proc, log_path)
        page.goto(f"{base}/watching?watch=clopidogrel", wait_until="domcontentloaded")
        card = page.locator(".st-key-card_0")
        card.wait_for(timeout=WAIT_MS)
        assert "Care Talk · Before the operation" in card.inner_text()
        assert page.locator("[class*='st-key-card_']").count() == len(entries)
        new_badges = page.locator("[data-testid=stCaptionContainer]", has_text="found 20")
        assert new_badges.count() == len(entries)
        shot(page, "watching-desktop")
        page.locator(".st-key-watch_read button").click()
        new_badges.first.wait_for(state="detached", timeout=WAIT_MS)
        with watch_book(settings) as book:
            assert book.get("clopidogrel").unread == 0
    finally:
        page.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
