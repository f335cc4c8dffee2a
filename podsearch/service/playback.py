"""The app's audio: what its player loads for an episode, kept offline when a local copy exists."""

from __future__ import annotations

from urllib.parse import urlparse

from podsearch.core.config import Settings
from podsearch.service.subscriptions import is_local_source, local_path


def playable_audio(settings: Settings, audio_url: str | None) -> str | None:
    """What the app's player should load: the local copy if there is one, else the URL.

    A local copy keeps playback offline (nothing leaves the machine).
    """
    if not audio_url:
        return None
    if is_local_source(audio_url):
        path = local_path(audio_url)
        return str(path) if path.is_file() else None
    from podsearch.ingest.download import cached_path

    cached = cached_path(audio_url, settings.audio_dir)
    if cached is not None:
        return str(cached)
    return audio_url if urlparse(audio_url).scheme in ("http", "https") else None
