"""Transcript files: formats (VTT, SRT, JSON, text, Podcasting 2.0 JSON) and their place on disk."""
