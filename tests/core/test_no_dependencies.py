"""The core is stdlib-only and framework-free (issue 2 acceptance), and its doctests hold."""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import ifmatch

CORE = [
    "etag",
    "dates",
    "conditions",
    "preconditions",
    "notmodified",
    "ranges",
    "hashing",
    "problem",
    "errors",
    "phrases",
    "respond",
    "patch",
    "cachecontrol",
]
SOURCE = Path(ifmatch.__file__).resolve().parent
CORE_FILES = [SOURCE / "__init__.py", *(SOURCE / f"{name}.py" for name in CORE)]


def test_import_pulls_in_no_third_party_module() -> None:
    modules = ", ".join(f"'ifmatch.{name}'" for name in CORE)
    script = f"""
import json, sys
before = set(sys.modules)
import ifmatch
for name in [{modules}]:
    __import__(name)
new = sorted(set(sys.modules) - before)
print(json.dumps(new))
"""
    output = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(output)
    assert "ifmatch.etag" in loaded
    foreign = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "ifmatch"
    ]
    assert foreign == []


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda path: path.name)
def test_core_module_imports_only_stdlib_and_ifmatch(path: Path) -> None:
    foreign = {
        name
        for name in _imports(path)
        if name not in sys.stdlib_module_names and name not in ("ifmatch", "__future__")
    }
    assert foreign == set()


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda path: path.name)
def test_core_module_imports_only_core_modules(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    inner = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ifmatch")
    }
    assert inner <= {f"ifmatch.{name}" for name in CORE}


def test_scanner_sees_a_framework_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom starlette.requests import Request\nimport django.http\n")
    assert _imports(probe) - set(sys.stdlib_module_names) == {"starlette", "django"}


#: The modules whose docstrings carry examples (conditions, problem and errors have none,
#: so a row for them would pass without checking anything).
DOCTESTED = [
    "ifmatch",
    *(
        f"ifmatch.{name}"
        for name in ("etag", "dates", "preconditions", "notmodified", "ranges", "hashing")
    ),
]


@pytest.mark.parametrize("name", DOCTESTED)
def test_doctests(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no doctest examples"
    assert result.failed == 0


def test_public_api_is_exported() -> None:
    documented = {
        "ETag",
        "ETagList",
        "parse_http_date",
        "format_http_date",
        "wire_seconds",
        "etag_for_content",
        "ContentHasher",
        "etag_for_version",
        "Conditions",
        "Resource",
        "evaluate",
        "Decision",
        "Outcome",
        "not_modified_headers",
        "plan_ranges",
        "RangePlan",
        "ByteRange",
        "problem",
        "decision_problem",
        "PROBLEM_JSON",
        "HeaderParseError",
    }
    assert documented <= set(ifmatch.__all__)
    assert [name for name in ifmatch.__all__ if not hasattr(ifmatch, name)] == []


def test_docs_core_examples() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "core.md"
    result = doctest.testfile(str(docs), module_relative=False)
    assert result.attempted > 30
    assert result.failed == 0
