"""Declared settings: every bad value in the environment is one line naming the variable and what it takes
(exit code 2, no traceback), and docs/settings.md is exactly what `podsearch settings --markdown` prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_pipeline import Run

from podsearch.core.config import SETTINGS, Settings, load_settings
from podsearch.core.errors import SettingError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
BAD = [
    ("PODSEARCH_BEAM_SIZE", "abc", "a whole number, 1 or more"),
    ("PODSEARCH_MAX_DOWNLOAD_BYTES", "1e9x", "a whole number of bytes, 1 or more"),
    ("PODSEARCH_BATCH_SIZE", "-3", "a whole number, 1 or more"),
    ("PODSEARCH_ENGINE", "whisperx", "one of faster-whisper, openai-whisper"),
    ("PODSEARCH_TRANSFER_DEADLINE", "soon", "a number of seconds above 0"),
    ("PODSEARCH_TRANSFER_DEADLINE", "0", "a number of seconds above 0"),
    ("PODSEARCH_SPEAKERS", "maybe", "yes or no (1/0, true/false, on/off)"),
    ("PODSEARCH_INDEX_KIND", "annoy", "one of auto, flat, hnsw, ivfpq"),
    ("PODSEARCH_APPROX_THRESHOLD", "lots", "a whole number, 0 or more"),
    ("PODSEARCH_SEGMENTATION_MODEL", "/nowhere/segmentation.onnx", "bundled, off, or the path of an ONNX file"),
]


@pytest.mark.parametrize(("variable", "value", "takes"), BAD)
def test_a_bad_value_is_one_line_naming_the_variable(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     variable: str, value: str, takes: str) -> None:
    monkeypatch.setenv(variable, value)
    result = run(tmp_path, "status", ok=False)  # an exception would escape `run` (catch_exceptions=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {variable} must be {takes}, got {value!r}"]
    assert not (tmp_path / "data").exists()  # nothing was opened, let alone written


def test_the_installed_command_says_it_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PODSEARCH_BEAM_SIZE": "abc", "PODSEARCH_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "podsearch.cli", "ingest"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == ["error: PODSEARCH_BEAM_SIZE must be a whole number, 1 or more, got 'abc'"]


def test_good_values_are_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSEARCH_TRANSFER_DEADLINE", "2.5")  # durations take fractions
    monkeypatch.setenv("PODSEARCH_MAX_DOWNLOAD_BYTES", "1_000_000")
    monkeypatch.setenv("PODSEARCH_ENGINE", "openai-whisper")
    monkeypatch.setenv("PODSEARCH_SPEAKERS", "off")
    monkeypatch.setenv("PODSEARCH_BEAM_SIZE", " ")  # blank: unset
    monkeypatch.setenv("PODSEARCH_ADMIN_EMAILS", " Ward@Example.org, ,b@example.org")
    settings = load_settings(tmp_path)
    assert (settings.transfer_deadline, settings.max_download_bytes, settings.engine, settings.speakers,
            settings.beam_size) == (2.5, 1_000_000, "openai-whisper", False, 1)
    assert settings.admin_emails == ("ward@example.org", "b@example.org")
    assert load_settings(tmp_path, beam_size=5).beam_size == 5  # a flag beats the environment


def test_values_given_in_code_are_checked_too(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match=r"^batch_size \(PODSEARCH_BATCH_SIZE\) must be a whole number, 1 or more, got 0$"):
        Settings(home=tmp_path, batch_size=0)


def test_the_settings_command_shows_this_homes_values(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSEARCH_BEAM_SIZE", "5")
    monkeypatch.setenv("PODSEARCH_ADMIN_TOKEN", "hunter2")
    lines = run(tmp_path, "settings").stdout.splitlines()
    assert [line.split()[0] for line in lines] == [s.env for s in SETTINGS]
    assert lines[[s.env for s in SETTINGS].index("PODSEARCH_BEAM_SIZE")].split() == ["PODSEARCH_BEAM_SIZE", "5", "(default", "1)"]
    assert lines[[s.env for s in SETTINGS].index("PODSEARCH_BATCH_SIZE")].split() == ["PODSEARCH_BATCH_SIZE", "8"]
    # `run` passes --allow-private: shown as this home's value.
    assert lines[[s.env for s in SETTINGS].index("PODSEARCH_ALLOW_PRIVATE")].split() == ["PODSEARCH_ALLOW_PRIVATE", "yes", "(default", "no)"]
    token = lines[[s.env for s in SETTINGS].index("PODSEARCH_ADMIN_TOKEN")]
    assert token.split()[:2] == ["PODSEARCH_ADMIN_TOKEN", "(set)"] and "hunter2" not in "\n".join(lines)


def test_the_documentation_is_the_commands_output(run: Run, tmp_path: Path) -> None:
    printed = run(tmp_path, "settings", "--markdown").stdout
    assert DOCS.read_text(encoding="utf-8") == printed, \
        "docs/settings.md is stale: regenerate it with `podsearch settings --markdown > docs/settings.md`"
    assert all(f"| `{s.env}` |" in printed for s in SETTINGS)


def test_the_api_starts_a_search_process_per_core_unless_told() -> None:
    from podsearch.core.config import MAX_AUTO_SERVE_WORKERS, serve_processes, usable_cores

    assert load_settings(Path("/nonexistent-home")).serve_workers == 0  # unset: chosen by the machine
    assert serve_processes(0) == min(usable_cores(), MAX_AUTO_SERVE_WORKERS) >= 1
    assert serve_processes(3) == 3 and serve_processes(1) == 1
