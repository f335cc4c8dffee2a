"""Opt-in pytest plugin: which tests use a real model without `@pytest.mark.slow` (keeps the fast loop fast).

    .venv/bin/python -m pytest -p modeluse -m "not slow" -q

Lists, after the run, every test during which a real model was loaded or run: a torch module called (the
sentence model, openai-whisper, the speaker encoder, the ONNX export), a sentence model, speaker encoder or
openai-whisper model loaded, an ONNX Runtime session other than faster-whisper's small VAD run, or a
faster-whisper model loaded or encoding. Subprocesses the tests start (the
API server, `python -m podsearch.cli`) are traced too: this file is put first on their PYTHONPATH as
`sitecustomize`-style hook through `MODELUSE_LOG`, and what they use counts for the test running.
With MODELUSE_FAIL=1 the first use raises instead of running the model, so the survey takes minutes.
The libraries are patched when something imports them, so the plugin costs nothing where no model is used.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

LOG_VARIABLE = "MODELUSE_LOG"  # not PODSEARCH_*: the conftest clears those for each test
_lock = threading.Lock()


def _record(kind: str) -> None:
    path = os.environ.get(LOG_VARIABLE)
    if path:
        with _lock, open(path, "a", encoding="utf-8") as log:
            log.write(kind + "\n")
        if os.environ.get("MODELUSE_FAIL"):
            raise RuntimeError(f"modeluse: a real model ({kind}) in a test without @pytest.mark.slow")


def _traced(function, kind: str):  # noqa: ANN001, ANN202 - any callable
    @functools.wraps(function)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        _record(kind)
        return function(*args, **kwargs)

    wrapper.__modeluse__ = True
    return wrapper


def _patch(owner: object, name: str, kind: str) -> None:
    function = getattr(owner, name, None)
    if function is not None and not getattr(function, "__modeluse__", False):
        setattr(owner, name, _traced(function, kind))


def _patch_torch(module) -> None:  # noqa: ANN001
    _patch(module.Module, "__call__", "torch")


def _patch_onnxruntime(module) -> None:  # noqa: ANN001
    session = module.InferenceSession
    run, init = session.run, session.__init__

    def __init__(self, path_or_bytes, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, N807
        self._modeluse_vad = isinstance(path_or_bytes, (str, os.PathLike)) and "silero" in str(path_or_bytes)
        init(self, path_or_bytes, *args, **kwargs)

    def traced_run(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if not getattr(self, "_modeluse_vad", False):
            _record("onnxruntime")
        return run(self, *args, **kwargs)

    session.__init__, session.run = __init__, traced_run


def _patch_faster_whisper(module) -> None:  # noqa: ANN001
    _patch(module.WhisperModel, "__init__", "faster-whisper")
    _patch(module.WhisperModel, "encode", "faster-whisper")


def _patch_sentence_transformers(module) -> None:  # noqa: ANN001
    _patch(module.SentenceTransformer, "__init__", "sentence-transformers")


def _patch_resemblyzer(module) -> None:  # noqa: ANN001
    _patch(module.VoiceEncoder, "__init__", "resemblyzer")


def _patch_whisper(module) -> None:  # noqa: ANN001
    _patch(module, "load_model", "openai-whisper")


TARGETS = {
    "torch.nn.modules.module": _patch_torch,
    "sentence_transformers.sentence_transformer.model": _patch_sentence_transformers,
    "resemblyzer.voice_encoder": _patch_resemblyzer,
    "whisper": _patch_whisper,
    "onnxruntime.capi.onnxruntime_inference_collection": _patch_onnxruntime,
    "faster_whisper.transcribe": _patch_faster_whisper,
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches a target module right after it executes, before anything can bind its names."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
        if name not in TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def patched(module, exec_module=exec_module):  # noqa: ANN001, ANN202
                    exec_module(module)
                    TARGETS[name](module)

                spec.loader.exec_module = patched
                return spec
        return None


def install() -> None:
    """Trace model use in this process (and, through PYTHONPATH, in the subprocesses it starts)."""
    if any(isinstance(f, _AfterImport) for f in sys.meta_path):
        return
    for name, patch in TARGETS.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _AfterImport())


# -- the pytest side -----------------------------------------------------------------------------------
_unmarked: dict[str, set[str]] = {}


def pytest_configure(config) -> None:  # noqa: ANN001
    folder = Path(tempfile.mkdtemp(prefix="modeluse-"))
    (folder / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nimport modeluse\nmodeluse.install()\n",
        encoding="utf-8")
    os.environ[LOG_VARIABLE] = str(folder / "use.log")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    install()


def _take() -> set[str]:
    path = Path(os.environ[LOG_VARIABLE])
    if not path.exists():
        return set()
    with _lock:
        kinds = set(path.read_text(encoding="utf-8").split())
        path.unlink()
    return kinds


def pytest_runtest_protocol(item, nextitem):  # noqa: ANN001, ANN201, ARG001
    _take()  # what a previous test's leftover threads did is not this test's


import pytest  # noqa: E402 - the hook wrapper below needs it; the tracer above must not


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    yield
    if call.when == "teardown":
        kinds = _take()
        if kinds and item.get_closest_marker("slow") is None:
            _unmarked[item.nodeid] = kinds


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not _unmarked:
        terminalreporter.write_line("modeluse: no unmarked test used a real model")
        return
    terminalreporter.section(f"modeluse: {len(_unmarked)} tests used a real model without @pytest.mark.slow")
    for nodeid, kinds in sorted(_unmarked.items()):
        terminalreporter.write_line(f"{nodeid}  ({', '.join(sorted(kinds))})")
