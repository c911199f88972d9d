"""The packages' imports point one way (docs/architecture.md): every module's imports, those
inside functions included, are read with ``ast``; a cycle or an import against the direction fails."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("corpus", "index", "service", "eval", "training", "khamtop")

# Bottom first. A module belongs to the layer of its longest matching prefix; it may import its
# own layer and the layers below it, never one above.
# Every package of index/backends is a backend (index.backends.base: the seam they implement).
BACKENDS = sorted(f"index.backends.{path.parent.name}" for path in (ROOT / "index" / "backends").glob("*/__init__.py"))
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("text and documents", ("corpus",)),
    ("all-or-nothing file writes", ("index.store.atomic",)),
    ("encoders", ("index.encoders",)),
    ("the reader model", ("index.reader",)),
    ("the index's core: versions, the folder, building, the backends' seam", ("index",)),
    ("the backends", tuple(BACKENDS)),
    ("the factory that names the backends", ("index.backends.factory",)),
    ("search", ("index.search",)),
    ("the service", ("service",)),
    ("evaluation and the bench", ("eval",)),
    ("training the reader", ("training",)),
    ("the command line", ("khamtop",)),
]
FACTORY = "index.backends.factory"
# Who may ask the factory for a backend: the settings, and through them everything above.
FACTORY_USERS = ("service", "eval", "training", "khamtop")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imports_of(path: Path) -> set[str]:
    """The project modules ``path`` imports, anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                # `from index.folder import postings` imports the module index.folder.postings.
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in MODULES else node.module)
    found = set()
    for name in names:
        # `import index.encoders.factory` also runs index and index.encoders: the module itself counts.
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def backend_of(module: str) -> str | None:
    """The backend package ``module`` belongs to (None: it is no backend's)."""
    return next((b for b in BACKENDS if module == b or module.startswith(b + ".")), None)


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    return rank


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_a_module_imports_only_its_own_layer_and_those_below(module):
    mine = layer_of(module)
    against = sorted(m for m in GRAPH[module] if layer_of(m) > mine)
    assert not against, (
        f"{module} ({LAYERS[mine][0]}) imports {against} from a layer above it "
        f"({', '.join(LAYERS[layer_of(m)][0] for m in against)})"
    )


def test_there_are_backends_and_a_factory_that_names_each():
    assert {"index.backends.embedded", "index.backends.qdrant"} <= set(BACKENDS)
    named = {backend_of(m) for m in GRAPH[FACTORY]} - {None}
    assert named == set(BACKENDS), f"the factory names {sorted(named)}, not every backend: {BACKENDS}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_outside_a_backend_imports_it_but_the_factory(module):
    mine = backend_of(module)
    crossing = sorted(m for m in GRAPH[module] if backend_of(m) not in (None, mine))
    assert module == FACTORY or not crossing, (
        f"{module} imports {crossing} of another backend: only {FACTORY} may name a backend; "
        "everything else asks it for one (index.backends.base.Backend)"
    )


@pytest.mark.parametrize("module", [m for m in sorted(GRAPH) if backend_of(m)])
def test_a_backend_imports_only_the_core(module):
    outside = sorted(
        m
        for m in GRAPH[module]
        if backend_of(m) != backend_of(module)
        and (
            m in (FACTORY,)
            or m == "index.search"
            or m.startswith("index.search.")
            or not m.startswith(("index", "corpus"))
        )
    )
    assert not outside, f"{module} (a backend) imports {outside}, which are not the index's core"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_only_the_settings_and_above_ask_the_factory(module):
    if FACTORY in GRAPH[module]:
        assert module.startswith(FACTORY_USERS), f"{module} asks the factory for a backend: it must be given one"


def test_no_module_imports_form_a_cycle():
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module) :] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for other in sorted(GRAPH[module]):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


def test_the_checks_catch_a_cycle_and_an_upward_import(monkeypatch):
    # The test would be worthless if it could not fail: an import added against the direction
    # (corpus -> service) and a cycle (a -> b -> a) are both caught.
    monkeypatch.setitem(GRAPH, "corpus.reader", GRAPH["corpus.reader"] | {"service.settings"})
    with pytest.raises(AssertionError, match="from a layer above"):
        test_a_module_imports_only_its_own_layer_and_those_below("corpus.reader")
    monkeypatch.setitem(GRAPH, "index.folder.layout", GRAPH["index.folder.layout"] | {"index.folder.load"})
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_module_imports_form_a_cycle()


def test_the_checks_catch_a_backend_named_outside_the_factory_and_a_backend_that_reaches_out(monkeypatch):
    # The search core naming the Qdrant engine, a backend importing another, a backend importing
    # the search, and the core asking the factory for a backend: each is caught.
    monkeypatch.setitem(
        GRAPH, "index.search.retriever", GRAPH["index.search.retriever"] | {"index.backends.qdrant.edge"}
    )
    with pytest.raises(AssertionError, match="only index.backends.factory may name a backend"):
        test_no_module_outside_a_backend_imports_it_but_the_factory("index.search.retriever")
    monkeypatch.setitem(
        GRAPH, "index.backends.embedded", GRAPH["index.backends.embedded"] | {"index.backends.qdrant.points"}
    )
    with pytest.raises(AssertionError, match="of another backend"):
        test_no_module_outside_a_backend_imports_it_but_the_factory("index.backends.embedded")
    monkeypatch.setitem(
        GRAPH, "index.backends.qdrant.edge", GRAPH["index.backends.qdrant.edge"] | {"index.search.results"}
    )
    with pytest.raises(AssertionError, match="not the index's core"):
        test_a_backend_imports_only_the_core("index.backends.qdrant.edge")
    monkeypatch.setitem(GRAPH, "index.build.write", GRAPH["index.build.write"] | {FACTORY})
    with pytest.raises(AssertionError, match="must be given one"):
        test_only_the_settings_and_above_ask_the_factory("index.build.write")


def test_a_backend_is_a_package_not_a_module():
    # A module beside base.py and factory.py would be counted as the core and escape the seam.
    loose = sorted(
        p.name
        for p in (ROOT / "index" / "backends").glob("*.py")
        if p.name not in ("__init__.py", "base.py", "factory.py")
    )
    assert not loose, f"index/backends/ holds {loose}: a backend is a package of its own (index/backends/NAME/)"
