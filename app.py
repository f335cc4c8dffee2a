"""podsearch — the Streamlit app: search, episode view, library, clip collections.

Run with `podsearch app` (or `streamlit run app.py`); the data home comes
from PODSEARCH_HOME. Everything runs locally; nothing is sent anywhere.

Every view has a shareable address: `/?q=...&show=...&source=...&from=...&to=...`
reruns a search, `/episode?episode=GUID&t=SECONDS[&end=SECONDS]` (or `/?episode=…`)
opens an episode at a moment (a clip when `end` is given), `/library` and
`/collections?collection=NAME` open those pages. The pages live in podsearch/webapp/; this script only calls
`podsearch.webapp.main.run` (the package ships its own copy of it for `podsearch app`).
"""

from __future__ import annotations

from podsearch.webapp.main import run

run()
