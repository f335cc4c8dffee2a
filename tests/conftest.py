"""Fixtures shared by every test, and the guard that isolates each test from the user's setup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The local HTTP server fixture (`http_server`) lives with its server class.
pytest_plugins = ["httpserver"]

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of converted model checkpoints for the whole run (not the user's ~/.cache)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def models():  # noqa: ANN201 - podsearch.service.models.Models
    """The test session's models, each loaded once and shared, as one long-lived process shares them."""
    from podsearch.service.models import Models

    return Models()


@pytest.fixture(scope="session")
def run(models):  # noqa: ANN001, ANN201 - Models; a function returning click's Result
    """`podsearch --home HOME --allow-private ARGS…` in this process with the session's models.

    `ok=True` (the default) asserts the command succeeded; pass `ok=False` to look at a failure, and
    `catch=True` to get an unexpected exception as the result's (an injected fault) instead of raising it;
    `allow_private=False` leaves out `--allow-private`.
    """
    from click.testing import CliRunner

    from podsearch.cli import cli

    def run(home: Path, *args: str, ok: bool = True, input: str | None = None, catch: bool = False,  # noqa: A002
            allow_private: bool = True):  # noqa: ANN202
        private = ["--allow-private"] if allow_private else []
        result = CliRunner().invoke(cli, ["--home", str(home), *private, *args], obj=models, input=input,
                                    catch_exceptions=catch)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory,
                         models_dir: Path) -> None:
    """No PODSEARCH_* setting of the user's reaches a test, and no test writes into a real home.

    A test that wants a setting sets it with `monkeypatch`; a command run without `--home` lands in a
    fresh temporary home instead of the checkout or the user's data.
    """
    for name in [n for n in os.environ if n.startswith("PODSEARCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PODSEARCH_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("PODSEARCH_MODELS_DIR", str(models_dir))


@pytest.fixture()
def feed_file(tmp_path: Path):  # noqa: ANN201 - a function returning the feed's path
    """Writes an RSS feed built by `rss.rss(title, *items, head=...)` (tests/rss.py) to `path`, default
    TMP/feed.xml, and returns the path."""
    from rss import rss

    def write(title: str, *items: str, head: str | None = None, path: Path | None = None) -> Path:
        path = path or tmp_path / "feed.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rss(title, *items, head=head), encoding="utf-8")
        return path

    return write


APP = Path(__file__).resolve().parents[1] / "app.py"
APP_TIMEOUT = 120  # the first run of a process loads the sentence model


@pytest.fixture()
def open_app(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a function returning AppTest
    """AppTest of app.py on a home, with query parameters as given in the address."""
    from streamlit.testing.v1 import AppTest

    def _open(home: Path, **params: str | list[str]) -> AppTest:
        monkeypatch.setenv("PODSEARCH_HOME", str(home))
        at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, at.exception
        return at

    return _open


@pytest.fixture()
def conversations_feed(tmp_path: Path):  # noqa: ANN201 - a function returning the feed's path
    """A copy of the conversations dev set's feed.xml with only the given guids, enclosures pointing at the
    committed audio (file:// URIs): the feed's own `podcast:person` tags and show notes stay as written."""
    import xml.etree.ElementTree as ET

    data = Path(__file__).parent / "data" / "conversations"

    def make(*guids: str) -> Path:
        ET.register_namespace("podcast", "https://podcastindex.org/namespace/1.0")
        ET.register_namespace("itunes", "http://www.itunes.com/dtds/podcast-1.0.dtd")
        tree = ET.parse(data / "feed.xml")
        channel = tree.getroot().find("channel")
        for item in channel.findall("item"):
            if item.findtext("guid") not in guids:
                channel.remove(item)
            else:
                enclosure = item.find("enclosure")
                enclosure.set("url", (data / enclosure.get("url")).resolve().as_uri())
        feed = tmp_path / f"feed-{'-'.join(guids)}.xml"
        tree.write(feed, encoding="utf-8", xml_declaration=True)
        return feed

    return make
