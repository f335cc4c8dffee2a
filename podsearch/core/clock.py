"""The one timestamp formatter (whisper's `format_timestamp` habit): every format asks it for its style."""

from __future__ import annotations


def timestamp(seconds: float, *, always_hours: bool = False, decimal_marker: str | None = None) -> str:
    """`seconds` as a clock.

    Without a decimal marker: whole seconds, rounded down (a clip never seems to start after it does),
    as m:ss, or h:mm:ss from an hour on ("1:05", "1:02:03"); with `always_hours`, hh:mm:ss.
    With a decimal marker ("." for VTT, "," for SRT): hh:mm:ss plus milliseconds, rounded.
    """
    if decimal_marker is not None:
        ms = max(0, round(seconds * 1000))
        hours, ms = divmod(ms, 3_600_000)
        minutes, ms = divmod(ms, 60_000)
        secs, ms = divmod(ms, 1000)
        return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"
    s = max(0, int(seconds))
    hours, minutes, secs = s // 3600, s % 3600 // 60, s % 60
    if always_hours:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
