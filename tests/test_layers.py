"""The import graph points only downwards: each module imports only its own layer or lower ones.

Layers, bottom to top (DESIGN.md): helpers -> plugins and data -> engine -> estimator
base -> estimators -> tools built on estimators -> command line. Every import
statement counts, also the ones inside functions (a lazy import that runs back
up is still a cycle). A new module must be placed in ``LAYERS``.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skcnn"

#: Module (or package prefix) -> layer. The longest matching prefix decides.
LAYERS = {
    "skcnn": 0,  # the package itself only holds __version__ and lazy exports
    "skcnn.exceptions": 0,
    "skcnn._files": 0,
    "skcnn._progress": 0,
    "skcnn._sklearn_compat": 0,
    "skcnn._constraints": 0,
    "skcnn._inspection_target": 0,
    "skcnn._onnx_export": 0,
    "skcnn.utils": 0,
    "skcnn.plugins": 1,
    "skcnn._backbone": 1,
    "skcnn._registry": 1,
    "skcnn.data": 1,
    "skcnn.datasets": 1,
    "skcnn._engine": 2,
    "skcnn._batches": 2,
    "skcnn._onnx_runtime": 2,  # the inference runtime: batches in, PyTorch or ONNX Runtime
    "skcnn._callbacks": 2,
    "skcnn.base": 3,
    "skcnn._estimator": 3,
    "skcnn._fit_guard": 3,
    "skcnn.scratch": 4,
    "skcnn.pretrained": 4,
    "skcnn.text": 4,
    "skcnn.extract": 5,
    "skcnn.comparison": 5,
    "skcnn.compare": 5,
    "skcnn.inspection": 5,
    "skcnn.model_selection": 5,
    "skcnn._inspection_input": 5,
    "skcnn._figures": 5,
    "skcnn._comparison_chart": 5,
    "skcnn.plotting": 5,
    "skcnn.doctor": 5,
    "skcnn.demo": 5,
    "skcnn.io": 5,
    "skcnn.cli": 6,
}

#: Lazy re-exports that exist for compatibility only and point up on purpose.
ALLOWED_UPWARD = {
    ("skcnn", "*"),  # the package's PEP 562 __getattr__ imports the public names lazily
}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module):
    best = max((prefix for prefix in LAYERS
                if module == prefix or module.startswith(prefix + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def _imports(path):
    """Absolute skcnn module names imported anywhere in the file at ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("skcnn"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("skcnn"):
                continue
            for alias in node.names:  # `from . import _registry` imports a submodule
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _is_module(candidate) else target)
    return found


def _is_module(name):
    relative = Path(*name.split(".")[1:])
    return ((PACKAGE / relative).with_suffix(".py").exists()
            or (PACKAGE / relative / "__init__.py").exists())


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [_module_name(p) for p in MODULES if _layer(_module_name(p)) is None]
    assert not missing, f"place these modules in LAYERS: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_point_down(path):
    source = _module_name(path)
    if (source, "*") in ALLOWED_UPWARD:
        return
    upward = sorted(target for target in _imports(path)
                    if (_layer(target) or 0) > _layer(source)
                    and (source, target) not in ALLOWED_UPWARD)
    assert not upward, (f"{source} (layer {_layer(source)}) imports from above: "
                        + ", ".join(f"{t} (layer {_layer(t)})" for t in upward))


def test_checker_sees_lazy_upward_imports(tmp_path):
    """The check reads imports inside functions too (a lazy import that runs up is a cycle)."""
    fake = PACKAGE / "data" / "images.py"
    assert "skcnn.exceptions" in _imports(fake)
    lazy = PACKAGE / "doctor" / "_machine.py"
    assert any(name.startswith("skcnn.pretrained") for name in _imports(lazy))  # inside a function


def test_bottom_layers_import_without_the_layers_above():
    """Importing a low module in a fresh interpreter loads nothing from a higher layer."""
    code = ("import sys\n"
            "import skcnn.plugins, skcnn._backbone, skcnn._registry, skcnn.data.images, skcnn.utils\n"
            "print(sorted(m for m in sys.modules if m.startswith('skcnn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = ast.literal_eval(out.strip())
    above = [m for m in loaded if (_layer(m) or 0) > 1]
    assert not above, above
