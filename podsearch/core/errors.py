"""User-facing errors: one clear line that names the thing and what to do."""

from __future__ import annotations


class PodsearchError(Exception):
    """An error the CLI prints as one line on stderr (no traceback)."""


class ConfigError(PodsearchError, ValueError):
    """A setting has a value podsearch cannot use."""


class SettingError(ConfigError):
    """A declared setting (an environment variable, a flag) has a value it does not take; the CLI exits with 2."""


class FeedError(PodsearchError):
    """A feed could not be fetched or parsed."""


class DownloadError(PodsearchError):
    """An enclosure or transcript could not be downloaded safely."""


class BlockedAddressError(DownloadError):
    """A URL points at a private, loopback or link-local address (SSRF guard)."""


class AudioError(PodsearchError):
    """A file is not decodable audio (corrupt, truncated, not audio)."""


class ModelError(PodsearchError):
    """A model name or path cannot be loaded."""


class QueryError(PodsearchError):
    """A search request is unusable (empty query, bad filter)."""


class TranscriptError(PodsearchError):
    """A publisher transcript is implausible for its episode (too dense, too long)."""


class HomeBusyError(PodsearchError):
    """Another podsearch process is writing to the home (and the caller chose not to wait)."""


class UnknownEpisodeError(PodsearchError):
    """No episode has the key or guid a user gave."""


class AmbiguousEpisodeError(PodsearchError):
    """A publisher guid names several episodes (of different shows); the user must give a key."""

    @classmethod
    def listing(cls, ident: str, candidates: list[tuple[str, str]]) -> AmbiguousEpisodeError:
        """The one line for the guid `ident`, naming every candidate: (key, "show / title")."""
        choices = "; ".join(f"{key} ({what})" for key, what in candidates)
        return cls(f"guid {ident!r} is used by {len(candidates)} episodes; give one of their keys: {choices}")
