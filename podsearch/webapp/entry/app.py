"""The app's entry script inside the package (`podsearch app` runs it wherever podsearch is installed)."""

from __future__ import annotations

from podsearch.webapp.main import run

run()
