"""The pipeline (feed -> episode -> audio -> transcript -> passages -> index), by the modules that run it.

Each concern has its own module; this one only names them, so `from podsearch.service.pipeline import
ingest` keeps working. New code imports from the concern's module:

- `subscriptions`: adding a feed, refreshing feeds into the catalog;
- `transcriber`: one episode into a Transcript (publisher's or Whisper's, with speakers);
- `sources`: where transcripts come from (this process; `distributed` for a Ray cluster);
- `ingest_run`: the ingest run that writes transcripts, statuses and the index;
- `upgrades`: homes from before episode keys brought in line;
- `reindex`: the index rebuilt from the transcript files;
- `playback`: what the app's player loads;
- `progress`: the reports long work sends, and their stages;
- `home`: the catalog, the index and episode lookups of a home.
"""

from podsearch.service.ingest_run import IngestReport, Ingester, ingest, pending_episodes, redownload_episode
from podsearch.service.playback import playable_audio
from podsearch.service.progress import Progress, ProgressFn, Stage
from podsearch.service.reindex import reindex
from podsearch.service.sources import LocalSource, Produced, TranscriptSource, prefetch_horizon, resumable, whisper_workers
from podsearch.service.subscriptions import add_feed, is_local_source, local_path, refresh_feed, refresh_feeds, select_episodes
from podsearch.service.transcriber import (Cancelled, Transcriber, episode_chapters, forget_cached,
                                           publisher_segments)
from podsearch.service.upgrades import reconcile, upgrade_transcripts

__all__ = ["Cancelled", "IngestReport", "Ingester", "LocalSource", "Produced", "Progress", "ProgressFn", "Stage",
           "Transcriber", "TranscriptSource", "add_feed", "episode_chapters", "forget_cached", "ingest",
           "is_local_source", "local_path", "pending_episodes", "playable_audio", "prefetch_horizon",
           "publisher_segments", "reconcile", "redownload_episode", "refresh_feed", "refresh_feeds", "reindex",
           "resumable", "select_episodes", "upgrade_transcripts", "whisper_workers"]
