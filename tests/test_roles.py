"""Roles in the app: every visitor searches and browses; only an admin changes the library.

AppTest covers the admin password and the read-only switch; the OIDC sign-in runs in a real headless
Chromium against a real OpenID provider (oidc-provider-mock) on 127.0.0.1, with `podsearch app`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from appserver import wait_healthy
from apiserver import free_port, make_home
from streamlit.testing.v1 import AppTest

from podsearch.core.config import load_settings
from podsearch.service.admin import set_password
from podsearch.service.models import Models

APP = Path(__file__).resolve().parents[1] / "app.py"
PASSWORD = "tea-and-biscuits-42"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and Path(p).exists()), None)
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    return make_home(tmp_path_factory.mktemp("roles"), models)


@pytest.fixture()
def home(ingested: Path, tmp_path: Path) -> Path:
    """A private copy: tests set passwords in it."""
    return Path(shutil.copytree(ingested, tmp_path / "home"))


def library(home: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    monkeypatch.setenv("PODSEARCH_HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["page"] = "Library"
    at.run()
    assert not at.exception, at.exception
    return at


def admin_actions(at: AppTest) -> set[str]:
    labels = {b.label for b in at.button} | {b.label for b in at.get("form_submit_button")}
    return labels & {"Add feed", "Import subscriptions", "Refresh feeds and ingest new episodes"}


def sees_library(at: AppTest) -> bool:
    return any(m.value.startswith("**Care Talk**") for m in at.markdown)


@pytest.mark.slow
def test_without_any_admin_configured_the_one_user_is_admin(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = library(home, monkeypatch)
    assert admin_actions(at) == {"Add feed", "Import subscriptions", "Refresh feeds and ingest new episodes"}
    assert not [t for t in at.text_input if t.key == "admin_password_input"]


@pytest.mark.slow
def test_admin_password_gates_library_changes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_password(load_settings(home), PASSWORD)
    at = library(home, monkeypatch)
    assert sees_library(at) and admin_actions(at) == set()

    at.text_input(key="admin_password_input").input("guess")
    next(b for b in at.get("form_submit_button") if b.label == "Sign in as admin").click().run()
    assert "That is not the admin password of this home." in [e.value for e in at.error]
    assert admin_actions(at) == set()

    at.text_input(key="admin_password_input").input(PASSWORD)
    next(b for b in at.get("form_submit_button") if b.label == "Sign in as admin").click().run()
    assert not at.exception, at.exception
    assert admin_actions(at) == {"Add feed", "Import subscriptions", "Refresh feeds and ingest new episodes"}

    next(b for b in at.button if b.label == "Sign out").click().run()
    assert admin_actions(at) == set() and sees_library(at)


@pytest.mark.slow
def test_admin_token_from_the_environment_is_the_password(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = library(home, monkeypatch, PODSEARCH_ADMIN_TOKEN=PASSWORD)
    assert admin_actions(at) == set()
    at.text_input(key="admin_password_input").input(PASSWORD)
    next(b for b in at.get("form_submit_button") if b.label == "Sign in as admin").click().run()
    assert "Add feed" in admin_actions(at)


@pytest.mark.slow
def test_read_only_hides_every_admin_action_and_still_searches(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = library(home, monkeypatch, PODSEARCH_READ_ONLY="1")  # what `podsearch app --read-only` sets
    assert sees_library(at) and admin_actions(at) == set()
    assert not [t for t in at.text_input if t.key == "admin_password_input"]
    assert not [b for b in at.button if b.label in ("Sign in", "Sign out")]
    search = AppTest.from_file(str(APP), default_timeout=120)
    search.query_params["q"] = "stopping clopidogrel before an operation"
    search.run()
    assert not search.exception and any("Pharmacy hour" in m.value for m in search.markdown)
    # The app exports its fast query encoder in a thread; let it finish before the test process may exit.
    for thread in [t for t in threading.enumerate() if t.name == "podsearch-onnx-export"]:
        thread.join()


# -- OIDC in a real browser -------------------------------------------------------------
def _app(home: Path, cwd: Path, port: int, *flags: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    log = cwd / f"app-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "podsearch.cli", "--home", str(home), "app", "--port", str(port),
                                 *flags], cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: `podsearch app` runs streamlit as a child
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, proc, log)
    return proc, base


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """Stop `podsearch app` and the streamlit it started (the whole process group)."""
    os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        proc.poll()
        time.sleep(0.2)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if CHROMIUM is None:
        pytest.skip("no chromium at /usr/bin/chromium or on PATH; install Debian's chromium to run browser tests")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


def _library_tab(page) -> None:  # noqa: ANN001 - playwright Page
    # The Library page by its address (the sign-in round trip lands on the search page).
    page.goto("/".join(page.url.split("/", 3)[:3]) + "/library", wait_until="domcontentloaded")
    page.get_by_text("Care Talk").first.wait_for(timeout=WAIT_MS)


def _sign_in(page, who: str) -> None:  # noqa: ANN001
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(who)  # the provider's own login form
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url("http://127.0.0.1:*/**", timeout=WAIT_MS)
    _library_tab(page)


@pytest.mark.slow
@pytest.mark.browser
def test_oidc_sign_in_makes_only_listed_people_admins(ingested: Path, tmp_path: Path, chromium) -> None:  # noqa: ANN001
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as provider:
        port = free_port()
        (tmp_path / ".streamlit").mkdir()
        (tmp_path / ".streamlit" / "secrets.toml").write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-long-random-test-secret-0123456789"
client_id = "podsearch-test"
client_secret = "podsearch-test-secret"
server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"
""")
        proc, base = _app(ingested, tmp_path, port, env={"PODSEARCH_ADMIN_EMAILS": "admin@example.org"})
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.goto(base + "/?page=Library", wait_until="domcontentloaded")
            page.get_by_text("Care Talk").first.wait_for(timeout=WAIT_MS)  # every visitor sees the library
            assert page.get_by_role("button", name="Add feed").count() == 0

            _sign_in(page, "reader@example.org")
            page.get_by_text("not an admin of this home").wait_for(timeout=WAIT_MS)
            assert page.get_by_role("button", name="Add feed").count() == 0
            page.get_by_role("button", name="Sign out").click()
            page.get_by_role("button", name="End session").click()  # the provider asks to confirm
            page.wait_for_url("http://127.0.0.1:*/**", timeout=WAIT_MS)
            _library_tab(page)
            page.get_by_role("button", name="Sign in").wait_for(timeout=WAIT_MS)

            _sign_in(page, "admin@example.org")
            page.get_by_role("button", name="Add feed").wait_for(timeout=WAIT_MS)
            page.get_by_role("button", name="Refresh feeds and ingest new episodes").wait_for(timeout=WAIT_MS)
            page.get_by_text("Signed in as admin@example.org (admin).").wait_for(timeout=WAIT_MS)
        finally:
            context.close()
            _stop(proc)


@pytest.mark.slow
@pytest.mark.browser
def test_read_only_app_in_a_browser_shows_no_admin_action(ingested: Path, tmp_path: Path, chromium) -> None:  # noqa: ANN001
    home = Path(shutil.copytree(ingested, tmp_path / "home"))
    set_password(load_settings(home), PASSWORD)  # even with an admin configured, nobody can sign in
    proc, base = _app(home, tmp_path, free_port(), "--read-only", env={})
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/?page=Library", wait_until="domcontentloaded")
        page.get_by_text("Care Talk").first.wait_for(timeout=WAIT_MS)
        for label in ("Add feed", "Import subscriptions", "Refresh feeds and ingest new episodes", "Sign in",
                      "Sign in as admin"):
            assert page.get_by_role("button", name=label).count() == 0, label
        assert page.get_by_label("Admin password").count() == 0
    finally:
        context.close()
        _stop(proc)
