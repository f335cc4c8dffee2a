"""podsearch: offline podcast transcript search.

Layers, bottom to top (ARCHITECTURE.md): `podsearch.core` (records, errors, config) ->
the stages `podsearch.transcripts`, `podsearch.ingest`, `podsearch.index` (installed from the
top-level folders of the same names) -> `podsearch.service` (catalog, pipeline, jobs, exports) ->
`podsearch.cli`, the API and the app.
"""

__version__ = "0.1.0"
