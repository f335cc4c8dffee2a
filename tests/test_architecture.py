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


# Below the orchestration layer nothing keeps process-global state: models and memos belong to objects
# their owner passes down (podsearch.service.models.Models, a SearchIndex's stemmer), so a process or a
# test decides what is loaded and for how long.
STATELESS = ("podsearch.core", "podsearch.transcripts", "podsearch.ingest", "podsearch.index")
_CACHES = {"lru_cache", "cache"}


def _is_cache(node: ast.expr) -> bool:
    """`lru_cache`, `functools.cache`, or either called with arguments (`lru_cache(maxsize=4)`)."""
    if isinstance(node, ast.Call):
        return _is_cache(node.func) or any(_is_cache(a) for a in node.args)
    if isinstance(node, ast.Name):
        return node.id in _CACHES
    return isinstance(node, ast.Attribute) and node.attr in _CACHES and isinstance(node.value, ast.Name) \
        and node.value.id == "functools"


def process_state(source: str) -> list[str]:
    """Module-level caches (decorated functions and methods, or wrapped at import) and `global` statements."""
    tree = ast.parse(source)
    found = [f"line {n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    defs = [*tree.body, *(b for c in tree.body if isinstance(c, ast.ClassDef) for b in c.body)]
    for node in defs:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(map(_is_cache, node.decorator_list)):
            found.append(f"line {node.lineno}: {node.name} is cached for the whole process")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _is_cache(node.value):
            found.append(f"line {node.lineno}: a cache made at import")
    return found


def test_the_state_check_finds_what_it_looks_for() -> None:
    source = ("import functools\nfrom functools import lru_cache\n_X = None\n"
              "@lru_cache(maxsize=4)\ndef a(): pass\n@functools.cache\ndef b(): pass\n"
              "c = functools.lru_cache(maxsize=2)(len)\n"
              "class K:\n    @functools.lru_cache\n    def d(self): pass\n"
              "def e():\n    global _X\n"
              "class Fine:\n    def __init__(self):\n        self.f = lru_cache(maxsize=8)(self.g)\n")
    assert process_state(source) == [
        "line 13: global _X", "line 5: a is cached for the whole process", "line 7: b is cached for the whole process",
        "line 8: a cache made at import", "line 11: d is cached for the whole process"]  # and nothing of Fine's


def test_stages_and_the_ground_keep_no_process_global_state() -> None:
    found = [f"{module} {what}" for module, path in _modules().items() if module.startswith(STATELESS)
             for what in process_state(path.read_text(encoding="utf-8"))]
    assert not found, ("process-global state below the orchestration layer (pass an object down instead, "
                       "see ARCHITECTURE.md):\n" + "\n".join(found))
