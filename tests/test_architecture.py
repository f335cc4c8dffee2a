"""The layer contract (ARCHITECTURE.md): every import of our own code points down, never up or sideways.

import-linter cannot check this tree: its graph builder walks a package's own folder, and the stages
install as `podsearch.ingest` etc. from top-level folders. So the contract is read from the source
with `ast`, counting imports inside functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where each installed package's source lives (pyproject.toml's package-dir).
SOURCES = {"podsearch": ROOT / "podsearch", "podsearch.ingest": ROOT / "ingest",
           "podsearch.transcripts": ROOT / "transcripts", "podsearch.index": ROOT / "index"}
# Bottom to top; packages on one line are siblings that must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("podsearch.core",),
    ("podsearch.transcripts",),
    ("podsearch.ingest", "podsearch.index"),
    ("podsearch.service",),
    ("podsearch.cli", "podsearch.api", "podsearch.mcp", "podsearch.webapp"),
]
TOP = LAYERS[-1]
# Generic names the project used to install; nothing may import them now.
RETIRED = {"ingest", "index", "transcripts"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            if package == "podsearch" and any((ROOT / d) in path.parents for d in ("ingest", "index", "transcripts")):
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    found["app"] = ROOT / "app.py"
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(module: str) -> tuple[int, str] | None:
    for rank, siblings in enumerate(LAYERS):
        for package in siblings:
            if module == package or module.startswith(package + "."):
                return rank, package
    return None


def test_every_source_module_belongs_to_a_layer() -> None:
    homeless = [m for m in _modules() if m not in ("app", "podsearch") and _layer(m) is None]
    assert not homeless, f"modules outside every layer (add them to one): {homeless}"


def test_imports_point_down_only() -> None:
    broken: list[str] = []
    for module, path in _modules().items():
        own = (len(LAYERS), "app") if module == "app" else _layer(module) or (-1, "podsearch")
        for name in _imports(path):
            if name.split(".")[0] in RETIRED:
                broken.append(f"{module} imports the retired top-level name {name}")
                continue
            target = _layer(name)
            if target is None:
                if name.startswith("podsearch") and name not in ("podsearch", "podsearch.__version__"):
                    broken.append(f"{module} imports {name}, which is in no layer")
                continue
            if target[1] == own[1] or own[1] == "app" and target[0] == len(LAYERS) - 1:
                continue
            if target[0] >= own[0] and own[0] != len(LAYERS) - 1 or own[0] == -1:
                broken.append(f"{module} ({own[1]}) imports {name} ({target[1]})")
    assert not broken, "imports against the layers (ARCHITECTURE.md):\n" + "\n".join(sorted(broken))


def test_the_ground_imports_nothing_of_ours() -> None:
    for module, path in _modules().items():
        if module.startswith("podsearch.core"):
            ours = {n for n in _imports(path) if n.startswith("podsearch") and not n.startswith("podsearch.core")}
            assert not ours, f"{module} imports {ours}"


def test_only_the_app_knows_streamlit() -> None:
    for module, path in _modules().items():
        if module == "app" or module.startswith("podsearch.webapp"):
            continue
        assert not any(n.split(".")[0] == "streamlit" for n in _imports(path)), f"{module} imports streamlit"


def test_the_root_package_imports_nothing() -> None:
    assert not _imports(ROOT / "podsearch" / "__init__.py")
