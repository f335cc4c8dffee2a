"""The app in a real headless Chromium: `streamlit run app.py` on 127.0.0.1, driven with Playwright.

Uses Debian's chromium (never `playwright install`); skipped with the reason
when it or the playwright package is missing. Screenshots land in
test-output/browser/ (git-ignored) and their paths are printed.
"""

from __future__ import annotations

import io
import math
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from apiserver import free_port  # noqa: F401 - test_watches_browser takes it from here
from appserver import streamlit_app

from podsearch.core.config import load_settings
from podsearch.index.search import LEAD_IN
from podsearch.service.models import Models
from podsearch.service.ingest_run import ingest
from podsearch.service.subscriptions import add_feed

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a browser and the app's models

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "browser"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and Path(p).exists()), None)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
QUERY = "stopping clopidogrel before surgery"
WAIT_MS = 90_000  # generous: the first page of a fresh server loads the sentence model

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"the playwright package is not importable ({exc}); pip install playwright", allow_module_level=True)
if CHROMIUM is None:  # pragma: no cover - depends on the machine
    pytest.skip("no chromium at /usr/bin/chromium or on PATH; install Debian's chromium to run browser tests",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - playwright Browser
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser,  # noqa: ANN001
           models: Models) -> Iterator[tuple[str, Path]]:
    """`streamlit run app.py` on an ingested home; yields (base URL, home), stops it afterwards."""
    from test_app import classroom_feed, pharmacy_feed

    root = tmp_path_factory.mktemp("browser")
    settings = load_settings(root / "home")
    for feed in (pharmacy_feed(root), classroom_feed(root)):
        add_feed(settings, str(feed))

    with streamlit_app(settings.home, root / "streamlit.log") as (base, _):
        # A first visit makes the server load its sentence model while this process ingests.
        warm = browser.new_page()
        warm.goto(base, wait_until="domcontentloaded")
        assert not ingest(settings, models=models).episode_errors
        warm.get_by_text("Search what was said in").wait_for(timeout=WAIT_MS)  # the model is loaded
        warm.close()
        yield base, settings.home


def shot(page: Page, name: str) -> Path:
    """A screenshot of the whole page from its top (Streamlit scrolls inside its main area, not the document)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]');"
                           " if (m) m.scrollTo(0, 0); return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 4000))})
    page.wait_for_timeout(300)  # let the layout settle at the new height (not an assertion)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    print(f"screenshot: {path}")
    return path


def audio_state(page: Page, selector: str) -> dict:
    """currentTime etc. of an <audio> once its metadata is loaded."""
    page.wait_for_function(
        "sel => { const a = document.querySelector(sel); return a && a.readyState >= 1; }", arg=selector,
        timeout=WAIT_MS,
    )
    return page.eval_on_selector(selector, "a => ({t: a.currentTime, paused: a.paused, src: a.src, d: a.duration})")


def test_search_by_keyboard_plays_the_clip(server: tuple[str, Path], browser, models: Models) -> None:  # noqa: ANN001
    from test_app import expected_hits

    base, home = server
    clip = expected_hits(models, home, QUERY)[0]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(base, wait_until="domcontentloaded")
        box = page.get_by_label("Search what was said")
        box.wait_for(timeout=WAIT_MS)
        box.fill(QUERY)
        box.press("Enter")  # keyboard only: no button to click
        card = page.locator(".st-key-card_0")
        card.locator("mark", has_text="Clopidogrel").wait_for(timeout=WAIT_MS)  # the query's words, highlighted
        assert "Pharmacy Hour · Blood thinners" in card.inner_text()
        page.wait_for_url(lambda url: "q=stopping+clopidogrel" in url, timeout=WAIT_MS)

        audio = audio_state(page, ".st-key-card_0 audio")
        assert "/media/" in audio["src"] and audio["d"] == pytest.approx(33.0, abs=0.2)
        assert audio["t"] == int(clip.start) == int(4.0 - LEAD_IN)  # the answer starts at 4 s; the clip LEAD_IN earlier
        # Played (muted, fast), it stops by itself at the clip's end, long before the episode's end.
        page.eval_on_selector(".st-key-card_0 audio", "a => { a.muted = true; a.playbackRate = 4; a.play(); }")
        page.wait_for_function("() => document.querySelector('.st-key-card_0 audio').paused", timeout=WAIT_MS)
        stopped = page.eval_on_selector(".st-key-card_0 audio", "a => a.currentTime")
        assert math.ceil(clip.end) <= stopped < math.ceil(clip.end) + 2 < audio["d"]
        assert shot(page, "search-desktop").stat().st_size > 10_000
    finally:
        page.close()


def test_shared_link_on_a_phone_screen(server: tuple[str, Path], browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{server[0]}/?q=advice&show=Classroom+Voices", wait_until="domcontentloaded")
        card = page.locator(".st-key-card_0")
        card.locator("mark", has_text="advice").wait_for(timeout=WAIT_MS)
        assert "Classroom Voices" in card.inner_text() and page.locator(".st-key-card_1").count() == 0
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "search-phone-390px")
    finally:
        context.close()


def test_episode_view_click_a_line_to_play(server: tuple[str, Path], browser) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{server[0]}/?episode=ph-1&t=2.5&end=9", wait_until="domcontentloaded")
        page.locator(".st-key-seg_5 button").wait_for(timeout=WAIT_MS)
        assert audio_state(page, "audio")["t"] == 2.0
        page.wait_for_url(lambda url: "/episode?" in url and "episode=ph-1" in url, timeout=WAIT_MS)
        page.locator(".st-key-seg_3 button").click()  # "0:15 Guest: Keep insulin pens ..."
        page.wait_for_url(lambda url: url.endswith("t=15"), timeout=WAIT_MS)
        # The player jumps there and plays on by itself (the click allows autoplay).
        page.wait_for_function(
            "() => { const a = document.querySelector('audio'); return a && a.currentTime > 15 && !a.paused; }",
            timeout=WAIT_MS)
        shot(page, "episode-desktop")
    finally:
        page.close()


def test_collection_downloads_a_zip_of_cut_clips(server: tuple[str, Path], browser,  # noqa: ANN001
                                                  models: Models) -> None:
    from test_app import expected_hits

    from podsearch.service.home import Home

    base, home = server
    clip = expected_hits(models, home, QUERY)[0]
    with Home(load_settings(home)).catalog() as library:
        library.add_to_collection("Week 1", clip.to_json(), "Ask the cardiologist first")
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        page.goto(f"{base}/?page=Collections", wait_until="domcontentloaded")  # an older address: still works
        button = page.get_by_role("button", name="Audio clips (ZIP)")
        button.wait_for(timeout=WAIT_MS)
        # The page is named by the address's path now, so a reload or a bookmark comes back here.
        page.wait_for_url(lambda url: url.split("?")[0].endswith("/collections"), timeout=WAIT_MS)
        with page.expect_download(timeout=WAIT_MS) as download:
            button.click()  # the clips are cut now, on the server, with PyAV
        with zipfile.ZipFile(download.value.path()) as zf:
            mp3s = [n for n in zf.namelist() if n.endswith(".mp3")]
            assert mp3s == [f"01 - Pharmacy Hour - Blood thinners @ 0m{int(clip.start):02d}s.mp3"]
            with av.open(io.BytesIO(zf.read(mp3s[0]))) as container:
                seconds = sum(f.samples / f.sample_rate for f in container.decode(audio=0))
            assert seconds == pytest.approx(clip.end - clip.start, abs=0.3)
            assert "Ask the cardiologist first" in zf.read("handout.md").decode()
        shot(page, "collections-desktop")
    finally:
        page.close()


def test_hostile_feed_text_sends_nothing_to_the_publisher(server: tuple[str, Path], browser,  # noqa: ANN001
                                                          monkeypatch: pytest.MonkeyPatch, models: Models) -> None:
    """Titles, transcript text and errors that carry image/link Markdown and HTML are shown as text.

    The feed comes from a server on 127.0.0.1 whose tracking URLs the markup points at; after Library,
    Search and the episode view have rendered it, that server has seen no request for them.
    """
    import html

    from httpserver import LocalServer
    from rss import channel_head, item, rss

    from podsearch.core.markup import escape_markdown

    base, home = server
    monkeypatch.setenv("PODSEARCH_ALLOW_PRIVATE", "1")  # this process ingests from 127.0.0.1
    settings = load_settings(home)
    with LocalServer() as publisher:
        def bait(name: str) -> str:
            return (f"![t]({publisher.url(f'/track-{name}.png')}) [click here]({publisher.url('/phish')}) "
                    f":red[SECURITY ALERT] <img src=\"{publisher.url(f'/track-{name}-html.png')}\"> $x$")

        vtt = f"WEBVTT\n\n00:00:00.000 --> 00:00:09.000\n<v Host>Zebra crossings need a lollipop person {bait('transcript')}\n"
        publisher.route("/t/ok.vtt", vtt.encode(), content_type="text/vtt")
        publisher.route("/a/ok.flac", ROOT / "tests" / "data" / "jfk.flac", content_type="audio/flac")
        show, title, broken = f"Evil show {bait('show')}", f"Evil episode {bait('episode')}", f"Gone {bait('error')}"
        items = (item(html.escape(title), "evil-1", date="Mon, 02 Mar 2026 09:00:00 GMT", audio=publisher.url("/a/ok.flac"),
                      extra=f'<podcast:transcript url="{publisher.url("/t/ok.vtt")}" type="text/vtt"/>'),
                 item(html.escape(broken), "evil-0", date="Mon, 01 Sep 2025 07:30:00 GMT",
                      audio=publisher.url("/a/missing.mp3")))
        publisher.route("/feed.xml", rss(html.escape(show), *items, head=channel_head("https://example.org/evil")).encode(),
                        content_type="application/rss+xml")
        # A second feed whose address (shown with its error) carries the bait, and breaks before the ingest.
        failing = publisher.route("/bad.xml", rss("Soon broken", head=channel_head("https://example.org/bad")).encode(),
                                  content_type="application/rss+xml")
        add_feed(settings, publisher.url("/feed.xml"))
        add_feed(settings, publisher.url("/bad.xml") + "?from=" + f"![t]({publisher.url('/track-feed-url.png')})")
        failing.status, failing.body = 500, f"oops {bait('feed-error')}".encode()
        report = ingest(settings, models=models)
        assert report.indexed == [title] and report.episode_errors and report.feed_errors

        def tracked() -> list[str]:
            """What the browser asked the publisher for, once the page had time to ask (a wait, not an assertion)."""
            page.wait_for_timeout(1000)
            return [seen.path for seen in publisher.requests if seen.path.startswith(("/track", "/phish"))]

        # Tall enough that every element is on screen: a browser loads an image below the fold only when it nears it.
        page = browser.new_page(viewport={"width": 1280, "height": 6000})
        try:
            page.goto(f"{base}/library", wait_until="domcontentloaded")
            page.get_by_text("Feed error:", exact=False).first.wait_for(timeout=WAIT_MS)
            assert tracked() == []
            page.get_by_text("Evil show ![t](", exact=False).first.wait_for(timeout=WAIT_MS)  # the show, as text
            page.get_by_text(f"Gone ![t]({publisher.url('/track-error.png')})", exact=False).first.wait_for(timeout=WAIT_MS)
            shot(page, "hostile-library")

            page.goto(f"{base}/?q=zebra+crossing+lollipop", wait_until="domcontentloaded")
            card = page.locator(".st-key-card_0")
            card.locator("mark", has_text="lollipop").wait_for(timeout=WAIT_MS)
            assert tracked() == []
            assert "Evil episode ![t](" in card.inner_text()
            assert ":red[SECURITY ALERT]" in card.inner_text() and "$x$" in card.inner_text()
            shot(page, "hostile-search")

            page.goto(f"{base}/?episode=evil-1", wait_until="domcontentloaded")
            page.locator(".st-key-seg_0 button").wait_for(timeout=WAIT_MS)
            assert tracked() == []
            main = page.locator("[data-testid=stMain]").inner_text()
            assert title in main  # the header, literally
            # The transcript line (its <img> tag is dropped by the VTT parser already; the Markdown is not).
            assert f"lollipop person ![t]({publisher.url('/track-transcript.png')}) [click here](" in main
            shot(page, "hostile-episode")

            # Nothing in the text became an image or a disguised link ("click here"): Streamlit shows a bare
            # address as a link to itself, which is visible and fetched only if the user clicks it.
            assert page.locator("[data-testid=stMain] img").count() == 0
            links = page.locator(f"[data-testid=stMarkdownContainer] a[href^='{publisher.url('/')}']").evaluate_all(
                "as => as.map(a => [a.textContent, a.href])")
            assert all(text == href for text, href in links), [(t, h) for t, h in links if t != h]
            assert page.locator("[data-testid=stMain] .katex").count() == 0  # no LaTeX either
        finally:
            page.close()
        assert escape_markdown(title) != title  # the bait is Markdown: the test would fail if it were shown as such


def test_unsure_words_speakers_and_renaming_in_the_browser(server: tuple[str, Path], browser,  # noqa: ANN001
                                                          models: Models) -> None:
    """Words Whisper was unsure of are underlined (dotted) in the quote; the episode reads as turns; a
    speaker renamed through the form is shown under the new name."""
    from test_app_conversation import add_conversations

    base, home = server
    add_conversations(load_settings(home), home.parent / "conversation-feeds", models)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{base}/?q=warfarin+INR+result&show=Night+Shift", wait_until="domcontentloaded")
        card = page.locator(".st-key-card_0")
        card.locator("mark", has_text="INR").wait_for(timeout=WAIT_MS)
        unsure = card.locator("blockquote span.unsure")
        assert unsure.evaluate_all("s => s.map(e => e.textContent)") == ["warfarin", "INR"]
        # The page's CSS is an element of its own, rendered in the same run as the card but not always in the
        # same frame: wait until the word is styled (it never is if the rule is wrong or missing).
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        computed = "e => { const s = getComputedStyle(e); return [s.textDecorationLine, s.textDecorationStyle]; }"
        try:
            page.wait_for_function(f"() => {{ const e = document.querySelector('.st-key-card_0 blockquote span.unsure');"
                                   f" return e && ({computed})(e).join() === 'underline,dotted'; }}", timeout=WAIT_MS)
        except PlaywrightTimeout:
            pass  # the assertion below says what the style is
        assert unsure.first.evaluate(computed) == ["underline", "dotted"]
        assert unsure.first.get_attribute("title") == "Whisper was unsure of this word"
        assert "Speaker 1" in card.inner_text() and ("Strong match" in card.inner_text() or "Partial match" in card.inner_text())
        shot(page, "unsure-words")

        page.goto(f"{base}/episode?episode=wt-1", wait_until="domcontentloaded")
        page.locator(".st-key-seg_10 button").wait_for(timeout=WAIT_MS)
        transcript = page.locator(".st-key-transcript").inner_text()
        assert "Sponsor read" in transcript and "Outro" in transcript
        page.get_by_text("Rename a speaker").click()
        picker = page.locator(".st-key-rename_from [role=combobox]")
        options = page.locator("[role=option]")
        for _ in range(40):  # the list opens on ArrowDown once the combobox has settled after the expander opened
            picker.click()
            picker.press("ArrowDown")
            page.wait_for_timeout(250)
            if options.count():
                break
        options.filter(has_text="Jonas").click()
        page.get_by_label("New name").fill("Jonas Berg")
        page.get_by_label("New name").press("Enter")
        page.locator(".st-key-rename_apply button").click()
        page.get_by_text("“Jonas” is now “Jonas Berg”").wait_for(timeout=WAIT_MS)
        assert "Jonas Berg" in page.locator(".st-key-transcript").inner_text()
        shot(page, "episode-conversation")
    finally:
        page.close()
