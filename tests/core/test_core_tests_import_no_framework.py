"""tests/core runs with no framework: its files and the conftest.py above them name no torch,
TensorFlow, JAX or Flax anywhere (module level or inside a function), nor a ``warmstart`` model
class (which imports its framework), and the test helpers they import none at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import warmstart

CORE = Path(__file__).resolve().parent
HELPERS = (CORE, CORE.parent)  # where a plain `import name` of a test helper resolves
FRAMEWORKS = {"torch", "tensorflow", "keras", "jax", "jaxlib", "flax", "optax"}


def module_level(tree: ast.Module) -> list[ast.AST]:
    """The nodes run on import: outside functions, classes and ``if TYPE_CHECKING:`` blocks."""
    nodes: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def framework_imports(source: str, anywhere: bool = True) -> set[str]:
    """The modules that ``source`` imports (``anywhere``, or only on import), and
    ``warmstart.<name>`` for each name it imports from ``warmstart``."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree) if anywhere else module_level(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            if node.module == "warmstart":
                names |= {f"warmstart.{alias.name}" for alias in node.names}
    return names


def helper(name: str, folders: tuple[Path, ...]) -> Path | None:
    """The test helper file that ``import name`` loads, or None for a package or a library."""
    for folder in folders:
        path = folder / f"{name.split('.')[0]}.py"
        if path.is_file():
            return path
    return None


def imported_frameworks(
    path: Path, seen: set[Path], folders: tuple[Path, ...] = HELPERS
) -> dict[str, str]:
    """Each framework that ``path`` (anywhere) or a helper it imports (on import) names, with the
    file that names it."""
    anywhere = not seen  # the test file itself; helpers only on import
    seen.add(path)
    found: dict[str, str] = {}
    for name in framework_imports(path.read_text(), anywhere):
        if name.split(".")[0] in FRAMEWORKS or name.removeprefix("warmstart.") in warmstart._LAZY:
            found[name] = path.name
        elif (local := helper(name, folders)) is not None and local not in seen:
            found |= imported_frameworks(local, seen, folders)
    return found


@pytest.mark.parametrize(
    "path", [*sorted(CORE.glob("*.py")), CORE.parent / "conftest.py"], ids=lambda p: p.name
)
def test_core_test_file_imports_no_framework(path):
    assert imported_frameworks(path, set()) == {}


def test_the_check_sees_an_import_inside_a_function():
    source = "import numpy\n\ndef f():\n    from torch import nn\n    import jax.numpy as jnp\n"
    assert framework_imports(source) >= {"torch", "jax.numpy"}
    assert framework_imports(source, anywhere=False) == {"numpy"}


def test_the_check_sees_a_model_class_imported_from_warmstart(tmp_path):
    (tmp_path / "test_x.py").write_text("from warmstart import BertConfig, EncoderDecoderModel\n")
    found = imported_frameworks(tmp_path / "test_x.py", set(), (tmp_path,))
    assert found == {"warmstart.EncoderDecoderModel": "test_x.py"}


def test_the_check_follows_helpers(tmp_path):
    (tmp_path / "helper_a.py").write_text("import helper_b\n")
    (tmp_path / "helper_b.py").write_text("import tensorflow as tf\n")
    (tmp_path / "test_x.py").write_text("def test():\n    import helper_a\n")
    found = imported_frameworks(tmp_path / "test_x.py", set(), (tmp_path,))
    assert found == {"tensorflow": "helper_b.py"}
