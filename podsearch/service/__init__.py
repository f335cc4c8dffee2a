"""Orchestration: the catalog, the ingest pipeline (local and Ray), background jobs and exports.

Stands on the stages (`podsearch.ingest`, `podsearch.transcripts`, `podsearch.index`) and the ground
(`podsearch.core`); the CLI, the API and the app stand on it.
"""
