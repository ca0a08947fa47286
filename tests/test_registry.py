"""Plugin discovery through real entry points (group ``skcnn.architectures``).

Each test installs a fake distribution into ``tmp_path`` -- a package plus a
``<name>-0.1.dist-info`` folder with ``METADATA`` and ``entry_points.txt`` --
and puts ``tmp_path`` on ``sys.path``, exactly as pip would leave it.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from torch import nn

import skcnn
from skcnn import CNNClassifier, _registry, list_architectures
from skcnn.exceptions import PluginNotFoundError
from skcnn.scratch.architectures import ConvNet

GROUP = "skcnn.architectures"

PLUGIN_SOURCE = """
from torch import nn
from skcnn.plugins import ArchitecturePlugin


class {cls}(ArchitecturePlugin):
    def __init__(self, *, width=3):
        self.width = width

    def build(self, meta):
        return nn.Sequential(
            nn.Conv2d(meta.in_channels, self.width, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(self.width * meta.height * meta.width, meta.n_outputs),
        )
"""


def install_fake_distribution(root, dist, modules, entry_points):
    """Write package(s) ``modules`` ({name: source}) and a dist-info for ``dist``
    registering ``entry_points`` ({name: "module:attr"}) in the architectures group."""
    for module, source in modules.items():
        package = root / module
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = [f"[{GROUP}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Forget discovered plugins before and after each test, and unload the fake modules."""
    _registry.clear_cache()
    before = set(sys.modules)
    yield
    _registry.clear_cache()
    for name in set(sys.modules) - before:
        if name.endswith("_pkg"):
            del sys.modules[name]


@pytest.fixture(scope="module")
def digits(digits8):
    X, y = digits8
    keep = np.isin(y, [0, 1, 2])
    return X[keep][:60], y[keep][:60]


FAST = dict(max_epochs=1, batch_size=32, verbose=0, random_state=0, device="cpu")


# ---------------------------------------------------------------------------- discovery
def test_builtins_are_discovered_from_entry_points():
    assert {"convnet", "simple_cnn", "lenet5"} <= set(list_architectures())
    assert list_architectures() == sorted(list_architectures())
    assert _registry.get_plugin_class(GROUP, "convnet") is ConvNet
    assert _registry.get_plugin_class(GROUP, "simple_cnn") is skcnn.SimpleCNN
    assert _registry.get_plugin_class(GROUP, "lenet5") is skcnn.LeNet5


def test_third_party_plugin_is_discovered_and_trains(tmp_path, monkeypatch, digits):
    install_fake_distribution(
        tmp_path, "myplugin", {"myplugin_pkg": PLUGIN_SOURCE.format(cls="TinyPlugin")},
        {"tiny_net": "myplugin_pkg:TinyPlugin"})
    assert "tiny_net" not in list_architectures()
    _registry.clear_cache()
    monkeypatch.syspath_prepend(str(tmp_path))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy plugin gives no warning
        names = list_architectures()
    assert "tiny_net" in names
    assert {"convnet", "simple_cnn", "lenet5"} <= set(names)
    plugin_cls = _registry.get_plugin_class(GROUP, "tiny_net")
    assert plugin_cls.__name__ == "TinyPlugin" and plugin_cls.__module__ == "myplugin_pkg"

    X, y = digits
    clf = CNNClassifier(architecture="tiny_net", **FAST).fit(X, y)
    assert type(clf.module_[0]) is nn.Conv2d and clf.module_[0].out_channels == 3
    assert clf.module_[-1].out_features == 3
    assert clf.predict(X[:5]).shape == (5,)


def test_discovery_is_cached_until_cleared(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path, "lateplugin", {"lateplugin_pkg": PLUGIN_SOURCE.format(cls="LateNet")},
        {"late_net": "lateplugin_pkg:LateNet"})
    calls = []
    real_entry_points = _registry.entry_points

    def counting_entry_points(**kwargs):
        calls.append(kwargs)
        return real_entry_points(**kwargs)

    monkeypatch.setattr(_registry, "entry_points", counting_entry_points)
    first = list_architectures()
    list_architectures()
    _registry.get_plugin_class(GROUP, "convnet")
    assert len(calls) == 1  # scanned the installed metadata once
    assert _registry._discover.cache_info().hits >= 2

    # a package installed at run time shows up only after clear_cache()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert list_architectures() == first
    _registry.clear_cache()
    assert "late_net" in list_architectures()
    assert len(calls) == 2


# ---------------------------------------------------------------------------- broken plugins
def test_broken_plugin_warns_and_is_skipped(tmp_path, monkeypatch, digits):
    install_fake_distribution(
        tmp_path, "brokenplugin",
        {"brokenplugin_pkg": 'raise ImportError("No module named \'missing_dependency\'")\n',
         "goodplugin_pkg": PLUGIN_SOURCE.format(cls="GoodNet")},
        {"broken_net": "brokenplugin_pkg:Net", "good_net": "goodplugin_pkg:GoodNet",
         "typo_net": "goodplugin_pkg:NoSuchClass"})
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.warns(RuntimeWarning) as record:
        names = list_architectures()
    messages = [str(w.message) for w in record]
    assert any("Skipping plugin 'broken_net'" in m and "brokenplugin" in m
               and "ImportError" in m and "missing_dependency" in m for m in messages)
    assert any("Skipping plugin 'typo_net'" in m and "AttributeError" in m for m in messages)
    assert "broken_net" not in names and "typo_net" not in names
    assert "good_net" in names
    assert {"convnet", "simple_cnn", "lenet5"} <= set(names)

    # the warning comes once, not at every lookup
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list_architectures()
        X, y = digits
        assert CNNClassifier(architecture="good_net", **FAST).fit(X, y).predict(X[:2]).shape == (2,)
        assert _registry.get_plugin_class(GROUP, "convnet") is ConvNet

    with pytest.raises(PluginNotFoundError, match=r"Unknown architecture 'broken_net'.*good_net"):
        CNNClassifier(architecture="broken_net", **FAST).fit(X, y)


# ---------------------------------------------------------------------------- name clashes
def test_builtin_name_wins_over_a_third_party_plugin(tmp_path, monkeypatch, digits16):
    install_fake_distribution(
        tmp_path, "evilplugin", {"evilplugin_pkg": PLUGIN_SOURCE.format(cls="FakeConvNet")},
        {"convnet": "evilplugin_pkg:FakeConvNet"})
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.warns(RuntimeWarning, match=r"'convnet' .* registered by evilplugin as well as "
                                            r"skcnn; using the one from skcnn"):
        names = list_architectures()
    assert names.count("convnet") == 1
    assert _registry.get_plugin_class(GROUP, "convnet") is ConvNet
    assert "evilplugin_pkg" not in sys.modules  # the shadowed plugin is never imported

    X, y = digits16
    clf = CNNClassifier(architecture="convnet", **FAST).fit(X[:40], y[:40])
    # the built-in ConvNet's defaults: 32 and 64 filters (the fake has a single 3-filter conv)
    convs = [m for m in clf.module_.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]


# ---------------------------------------------------------------------------- laziness
def test_discovery_is_lazy(tmp_path):
    install_fake_distribution(
        tmp_path, "lazyplugin", {"lazyplugin_pkg": PLUGIN_SOURCE.format(cls="LazyNet")},
        {"lazy_net": "lazyplugin_pkg:LazyNet"})
    script = textwrap.dedent("""
        import sys
        import skcnn
        from skcnn import _registry

        # nothing discovered or imported at `import skcnn`
        assert _registry._discover.cache_info().currsize == 0, _registry._discover.cache_info()
        assert "lazyplugin_pkg" not in sys.modules

        names = skcnn.list_architectures()
        assert "lazy_net" in names, names
        assert "lazyplugin_pkg" in sys.modules
        info = _registry._discover.cache_info()
        assert (info.currsize, info.misses, info.hits) == (1, 1, 0), info

        skcnn.list_architectures()
        _registry.get_plugin_class("skcnn.architectures", "lazy_net")
        assert _registry._discover.cache_info().hits == 2, _registry._discover.cache_info()
        print("LAZY-OK")
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LAZY-OK" in result.stdout
