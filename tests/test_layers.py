"""Layers you can see: the pure rules import nothing of Telegram, SQLite, jinja2 or yaml; no
module imports another that (through any chain) imports it back, not even inside a function;
SQL is written only in storage/."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "jobs", "messages", "storage")
FORBIDDEN_IN_RULES = ("telegram", "sqlite3", "sqlite_utils", "jinja2", "yaml")


def test_the_pure_rules_import_no_telegram_sqlite_jinja2_or_yaml():
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import bot.rules\n"
        "for m in pkgutil.iter_modules(bot.rules.__path__):\n"
        "    importlib.import_module('bot.rules.' + m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    bad = [m for m in loaded if m.split(".")[0] in FORBIDDEN_IN_RULES]
    assert bad == []
    ours = {m.split(".")[0] for m in loaded} & set(PACKAGES)
    assert ours == {"bot"}  # nor any of handlers, jobs, messages, storage
    assert not [
        m for m in loaded if m.startswith("bot.") and not m.startswith(("bot.rules", "bot.clock"))
    ]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports, wherever the import statement is (functions
    too); `if TYPE_CHECKING:` blocks are not run and do not count."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = {
            id(n)
            for block in ast.walk(tree)
            if _is_type_checking(block)
            for stmt in block.body
            for n in ast.walk(stmt)
        }
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join([*here, base] if base else here)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "bot.rules.kinds" in graph["bot.rules.schedule"]
    assert "jobs.plan" in graph["handlers.course"]  # imported inside a function
    assert "messages" in graph["jobs.compose"]


def test_no_import_cycles_not_even_inside_functions():
    assert cycles(import_graph()) == []


def test_the_pure_rules_depend_on_nothing_above_them():
    graph = import_graph()
    above = [
        (m, t)
        for m, targets in graph.items()
        if m.startswith("bot.rules")
        for t in targets
        if not t.startswith(("bot.rules", "bot.clock"))
    ]
    assert above == []


SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+(TABLE|INDEX))\b",
    re.IGNORECASE | re.DOTALL,
)


def test_sql_is_written_only_in_storage():
    found = []
    for package in ("handlers", "jobs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and SQL.search(node.value)
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
