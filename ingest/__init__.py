"""Feeds, downloads, audio decoding and transcription (feed -> episode -> audio -> transcript)."""
