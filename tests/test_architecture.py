"""The design's layering rules, read from the source with ``ast`` (nothing is imported or run).

Every ``import`` counts, at module level and inside functions alike; only the ones under
``if TYPE_CHECKING:`` are left out (they never run). Dynamic imports (``importlib``) are not seen.

    gateway/api/        HTTP: app, middleware, handlers, wire format (protocol, responses, encoder, sse)
    gateway/core/       planner, orchestrator, modes, answer, trace, acceptance, domain errors
    gateway/cloud_client/, gateway/privacy/, gateway/testing/ (fakes shared by tests and benches)
    routers/            routing policies only: no model, no HTTP, no gateway
    device_runtime/     the llama.cpp engine and its worker: below everything else
    cloud/              the local stand-in server and the vLLM recipes: the shared wire format only
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "routers", "device_runtime", "cloud", "bench")
MAX_GATEWAY_MODULE_LINES = 400

# what cloud/ may take from the gateway: the shared wire format (and vLLM's load gauges), the acceptance rule
CLOUD_MAY_IMPORT = {"gateway.api.protocol", "gateway.api.responses", "gateway.api.encoder", "gateway.api.sse",
                    "gateway.cloud_client.load", "gateway.core.acceptance"}
# the HTTP server side of aiohttp belongs to the API layer (plus the stand-in cloud and the test fakes);
# the client side (aiohttp.ClientSession: the cloud client, the terminal chat) may be used anywhere above
# device_runtime and routers
WEB_SERVER_ALLOWED = ("gateway.api", "gateway.testing", "cloud.server")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "gateway.core.planner"
    module: str  # the module named after ``import`` / ``from`` (relative imports resolved)
    target: str  # the most specific module this loads: ``from gateway.api import sse`` -> "gateway.api.sse"
    names: tuple[str, ...]  # for ``from m import a, b``: ("a", "b")
    line: int

    def where(self) -> str:
        return f"{path_of(self.source)}:{self.line}"

    def statement(self) -> str:
        return f"from {self.module} import {', '.join(self.names)}" if self.names else f"import {self.module}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[module_name(path)] = path
    return files


def path_of(module: str) -> str:
    return str(module_files()[module].relative_to(ROOT))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, source: str, is_package: bool, known: set[str]):
        self.source, self.is_package, self.known = source, is_package, known
        self.imports: list[Import] = []
        self.web_attributes: list[int] = []  # lines that reach ``aiohttp.web`` as an attribute

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append(Import(self.source, alias.name, alias.name, (), node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = self._absolute(node.module, node.level)
        names = tuple(alias.name for alias in node.names)
        for name in names:
            sub = f"{module}.{name}"
            target = sub if sub in self.known else module
            self.imports.append(Import(self.source, module, target, names, node.lineno))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "aiohttp" and node.attr.startswith("web"):
            self.web_attributes.append(node.lineno)
        self.generic_visit(node)

    def _absolute(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        package = self.source.split(".") if self.is_package else self.source.split(".")[:-1]
        base = package[:len(package) - (level - 1)]
        return ".".join(base + ([module] if module else []))


@cache
def scan() -> tuple[tuple[Import, ...], dict[str, tuple[int, ...]]]:
    known = set(module_files())
    imports: list[Import] = []
    web_attributes: dict[str, tuple[int, ...]] = {}
    for module, path in module_files().items():
        collector = _Collector(module, path.name == "__init__.py", known)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        imports += collector.imports
        if collector.web_attributes:
            web_attributes[module] = tuple(collector.web_attributes)
    return tuple(imports), web_attributes


def imports_from(prefix: str) -> list[Import]:
    return [i for i in scan()[0] if in_package(i.source, prefix)]


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def top(module: str) -> str:
    return module.split(".")[0]


def listing(found: list[Import]) -> str:
    """One line per import statement (``from m import a, b`` is one statement, several Imports)."""
    lines = dict.fromkeys(f"  {i.where()}: {i.statement()}" for i in found)
    return "\n".join(lines)


# -- the scan itself -----------------------------------------------------------------------------------


def test_the_scan_sees_the_tree():
    """Guards the rules below against passing on an empty or misread tree."""
    files = module_files()
    assert {"gateway.api.app", "gateway.core.planner", "routers.policy", "device_runtime.engine",
            "cloud.server", "bench.common"} <= set(files)
    targets = {(i.source, i.target) for i in scan()[0]}
    assert ("gateway.runtime", "gateway.config") in targets
    assert ("device_runtime.fake", "device_runtime.engine") in targets


def test_relative_and_type_checking_imports_are_read_right(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..api import sse\n"
        "if TYPE_CHECKING:\n"
        "    from gateway.core.orchestrator import Collaborator\n"
        "else:\n"
        "    import json\n"
        "def f():\n"
        "    import gateway.config\n"
    )
    known = {"gateway.core.sibling", "gateway.api.sse", "gateway.config"}
    collector = _Collector("gateway.core.x", False, known)
    collector.visit(ast.parse(source))
    targets = [i.target for i in collector.imports]
    assert targets == ["typing", "gateway.core.sibling", "gateway.api.sse", "json", "gateway.config"]


# -- (a) no import cycles -----------------------------------------------------------------------------


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _one_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    start, inside = members[0], set(members)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & inside):
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(parents[chain[-1]])
                    return [*reversed(chain), start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    return members


def test_no_import_cycles():
    imports, _ = scan()
    graph: dict[str, set[str]] = defaultdict(set)
    lines: dict[tuple[str, str], int] = {}
    for module in module_files():
        graph[module]
    for i in imports:
        if i.target in module_files() and i.target != i.source:
            graph[i.source].add(i.target)
            lines.setdefault((i.source, i.target), i.line)
    cycles = []
    for members in _strongly_connected(graph):
        if len(members) > 1:
            path = _one_cycle(graph, members)
            steps = ", ".join(f"{a} -> {b} ({path_of(a)}:{lines[a, b]})" for a, b in zip(path, path[1:]))
            cycles.append(f"  {len(members)} modules {members}: {steps}")
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(tuple, _strongly_connected(graph))) == [("a", "b", "c"), ("d",)]
    assert _one_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


# -- (b) routers are policies: no model, no HTTP, no gateway -------------------------------------------


def test_routers_import_no_engine_http_gateway_or_cloud():
    banned = {"llama_cpp", "aiohttp", "gateway", "cloud"}
    found = [i for i in imports_from("routers") if top(i.module) in banned]
    assert not found, "routers/ must stay model- and HTTP-free:\n" + listing(found)


# -- (c) the device runtime is the bottom layer ---------------------------------------------------------


def test_device_runtime_imports_nothing_above_it():
    banned = {"gateway", "routers", "cloud"}
    found = [i for i in imports_from("device_runtime") if top(i.module) in banned]
    assert not found, "device_runtime/ must not import gateway, routers or cloud:\n" + listing(found)


# -- (d) the stand-in cloud shares the wire format, not gateway internals --------------------------------


def test_cloud_imports_only_the_shared_wire_format_from_gateway():
    found = [i for i in imports_from("cloud")
             if top(i.module) == "gateway" and i.target not in CLOUD_MAY_IMPORT]
    assert not found, f"cloud/ may import from gateway only {sorted(CLOUD_MAY_IMPORT)}:\n" + listing(found)


# -- (e) tests are leaves -------------------------------------------------------------------------------


def test_nothing_imports_tests():
    found = [i for i in scan()[0] if top(i.module) == "tests"]
    assert not found, "shared fakes belong in gateway/testing, not tests/:\n" + listing(found)


# -- (f) the HTTP server side lives in the API layer ----------------------------------------------------


def _is_web_server(i: Import) -> bool:
    if i.module == "aiohttp":
        return any(name == "web" or name.startswith("web_") for name in i.names)
    return in_package(i.module, "aiohttp.web") or i.module.startswith("aiohttp.web_")


def test_only_the_api_layer_imports_aiohttp_web():
    imports, web_attributes = scan()
    found = [i for i in imports if _is_web_server(i)
             and not any(in_package(i.source, allowed) for allowed in WEB_SERVER_ALLOWED)]
    lines = listing(found).splitlines()
    for module, at in sorted(web_attributes.items()):
        if not any(in_package(module, allowed) for allowed in WEB_SERVER_ALLOWED):
            lines += [f"  {path_of(module)}:{n}: aiohttp.web..." for n in at]
    assert not lines, (f"aiohttp.web (the server side) only in {', '.join(WEB_SERVER_ALLOWED)}:\n"
                       + "\n".join(lines))


# -- (g) small modules ------------------------------------------------------------------------------------


def test_no_gateway_module_over_the_line_budget():
    sizes = {module: len(path.read_text(encoding="utf-8").splitlines())
             for module, path in module_files().items() if in_package(module, "gateway")}
    over = sorted(((n, m) for m, n in sizes.items() if n > MAX_GATEWAY_MODULE_LINES), reverse=True)
    assert not over, (f"gateway modules over {MAX_GATEWAY_MODULE_LINES} lines:\n"
                      + "\n".join(f"  {path_of(m)}: {n} lines" for n, m in over))
