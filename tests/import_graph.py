"""The project's imports read from source with ``ast``, and the rules they must keep.

Every checker takes the folder holding ``host/``, ``agent/`` and ``shared/`` (the
checkout, or a fake tree in a test) and returns what breaks its rule, so one function
serves both the real check and the test proving that the check can fail. Folders map to
packages as pyproject's ``package-dir`` says: ``agent/x.py`` is ``edgeshrink.agent.x``.

Imports anywhere in a file count, inside functions too: a lazy import still runs on the
board, and a lazy import still closes a cycle. Imports done by name at run time
(``importlib.import_module``) are not read; the compression registry uses one on purpose
so that it depends on none of the modules that register into it.
"""

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

ROOT_PACKAGE = "edgeshrink"
PACKAGE_FOLDERS = ("host", "agent", "shared")
HOST = ROOT_PACKAGE + ".host"
AGENT = ROOT_PACKAGE + ".agent"
SHARED = ROOT_PACKAGE + ".shared"

# What a board may have: imported only inside functions, so a missing one is a fact the
# agent reports, not an ImportError when it starts.
AGENT_OPTIONAL_RUNTIMES = frozenset({"onnxruntime", "numpy", "psutil", "tflite_runtime", "ai_edge_litert"})
STDLIB = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class ImportStatement:
    importer: str            # the importing module, dotted
    path: Path
    line: int
    target: str              # the absolute dotted name after `import` / `from`
    names: Tuple[str, ...]   # what `from target import ...` takes; () for `import target`
    lazy: bool               # inside a function: runs when called, not on import

    def where(self, root):
        return "%s:%d" % (self.path.relative_to(root).as_posix(), self.line)


def project_modules(root) -> Dict[str, Path]:
    """Every module under the package folders, by dotted name (a package by its __init__)."""
    root = Path(root)
    modules = {}
    for folder in PACKAGE_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([ROOT_PACKAGE] + parts)] = path
    return modules


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module, path):
        self.module, self.path = module, path
        self.package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        self.depth = 0
        self.found = []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node):
        for alias in node.names:
            self._add(node, alias.name, ())

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package.split(".")
            base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module
        self._add(node, target, tuple(alias.name for alias in node.names))

    def _add(self, node, target, names):
        self.found.append(ImportStatement(self.module, self.path, node.lineno, target, names, self.depth > 0))


def import_statements(module, path) -> List[ImportStatement]:
    collector = _ImportCollector(module, Path(path))
    collector.visit(ast.parse(Path(path).read_text(), str(path)))
    return collector.found


def _all_statements(root):
    modules = project_modules(root)
    return modules, [s for module, path in modules.items() for s in import_statements(module, path)]


def _within(name, package):
    return name == package or name.startswith(package + ".")


def _imported_modules(statement, modules):
    """The project modules a statement loads: `from pkg import mod` names a submodule."""
    found = []
    for name in statement.names or ("",):
        candidate = statement.target + "." + name if name else statement.target
        while candidate and candidate not in modules:
            candidate = candidate.rpartition(".")[0]
        if candidate:
            found.append(candidate)
    return found


def layering_violations(root) -> List[str]:
    """What agent/ and shared/ import that a board cannot have or must not run.

    Both ship in the agent zipapp: never torch, never host/; at import time only the
    standard library and their own packages; the board's optional runtimes only inside
    functions. shared/ sits below agent/ and never imports it.
    """
    root = Path(root)
    _, statements = _all_statements(root)
    problems = []
    for s in statements:
        if not (_within(s.importer, AGENT) or _within(s.importer, SHARED)):
            continue
        top = s.target.split(".")[0]
        reason = None
        if top == "torch":
            reason = "torch (agent and shared never import torch)"
        elif _within(s.target, HOST) or (s.target == ROOT_PACKAGE and "host" in s.names):
            reason = "%s (agent and shared never import host)" % s.target
        elif _within(s.importer, SHARED) and (_within(s.target, AGENT)
                                              or (s.target == ROOT_PACKAGE and "agent" in s.names)):
            reason = "%s (shared sits below agent and never imports it)" % s.target
        elif top == ROOT_PACKAGE or top in STDLIB:
            continue
        elif top in AGENT_OPTIONAL_RUNTIMES:
            if not s.lazy:
                reason = "%s at import time (an optional runtime: import it inside the function using it)" % top
        else:
            reason = "%s (third-party; a board has only %s)" % (top, ", ".join(sorted(AGENT_OPTIONAL_RUNTIMES)))
        if reason:
            problems.append("%s %s imports %s" % (s.where(root), s.importer, reason))
    return problems


def import_graph(root) -> Dict[str, List[str]]:
    """Project module -> the project modules it imports (itself excluded)."""
    modules, statements = _all_statements(root)
    graph = {module: set() for module in modules}
    for s in statements:
        graph[s.importer].update(m for m in _imported_modules(s, modules) if m != s.importer)
    return {module: sorted(targets) for module, targets in graph.items()}


def import_cycles(root) -> List[List[str]]:
    """Cycles as [a, b, ..., a], enough of them that every module on one is named."""
    graph = import_graph(root)
    cycles = []
    for group in _strongly_connected(graph):
        uncovered = set(group) if len(group) > 1 else set()
        while uncovered:
            cycle = _cycle_through(graph, set(group), min(uncovered))
            cycles.append(cycle)
            uncovered -= set(cycle)
    return sorted(cycles)


def _strongly_connected(graph):
    """Tarjan's algorithm, iterative (the graph can be deeper than the recursion limit)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(sorted(group))
    return groups


def _cycle_through(graph, members, start):
    """A shortest path from ``start`` back to itself through the strongly connected ``members``."""
    previous, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in graph[node]:
                if successor == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return path[::-1] + [start]
                if successor in members and successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError("%s is not on a cycle among %s" % (start, sorted(members)))


def private_name_imports(root) -> List[str]:
    """`from other_module import _name`: a helper taken from a sibling by its private name."""
    root = Path(root)
    modules, statements = _all_statements(root)
    problems = []
    for s in statements:
        if not _within(s.target, ROOT_PACKAGE) or s.target == s.importer:
            continue
        if any(_is_private(part) for part in s.target.split(".")):
            problems.append("%s %s imports from the private module %s" % (s.where(root), s.importer, s.target))
        for name in filter(_is_private, s.names):
            kind = "the private module" if s.target + "." + name in modules else "the private name"
            problems.append("%s %s imports %s %s from %s" % (s.where(root), s.importer, kind, name, s.target))
    return problems


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
