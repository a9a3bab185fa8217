"""Package boundaries: what agent/ and shared/ may import, no import cycles, no private
names taken from a sibling. Each checker runs on the checkout and, to prove it can fail,
on a small fake tree that breaks its rule."""

import json
import subprocess
from pathlib import Path

from edgeshrink.host import agent_bundle

from .conftest import REPO
from .import_graph import (AGENT, AGENT_OPTIONAL_RUNTIMES, SHARED, import_cycles, layering_violations,
                           private_name_imports, project_modules)


def write_tree(root, files):
    """Files under ``root`` from {relative path: source}; every folder on the way is a package."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        for folder in path.relative_to(root).parents:
            if folder != Path("."):
                (root / folder / "__init__.py").touch()


def test_agent_and_shared_import_neither_torch_nor_host_nor_other_third_party():
    problems = layering_violations(REPO)
    assert problems == [], "\n".join(problems)


def test_no_import_cycles():
    cycles = import_cycles(REPO)
    assert cycles == [], "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_imports_a_private_name_from_another():
    problems = private_name_imports(REPO)
    assert problems == [], "\n".join(problems)


def test_layering_check_reports_each_kind_of_leak(tmp_path):
    write_tree(tmp_path, {
        "agent/lazy_torch.py": "def load():\n    import torch\n",
        "agent/absolute_host.py": "from edgeshrink.host.compress import variants\n",
        "agent/relative_host.py": "from ..host import cli\n",
        "agent/parent_host.py": "from .. import host\n",
        "agent/eager_numpy.py": "import numpy\n",
        "agent/lazy_numpy.py": "def run():\n    import numpy\n    import onnxruntime.quantization\n",
        "agent/yaml_user.py": "import json\nimport yaml\n",
        "shared/numpy_user.py": "import numpy as np\n",
        "shared/uses_agent.py": "from ..agent import lazy_numpy\n",
        "shared/clean.py": "import json\nfrom dataclasses import dataclass\nfrom . import clean\n",
        "host/anything.py": "import torch\nimport yaml\n",  # the host may use what it likes
    })
    reports = layering_violations(tmp_path)
    assert sorted(r.split(" ")[0] for r in reports) == [
        "agent/absolute_host.py:1", "agent/eager_numpy.py:1", "agent/lazy_torch.py:2",
        "agent/parent_host.py:1", "agent/relative_host.py:1", "agent/yaml_user.py:2",
        "shared/numpy_user.py:1", "shared/uses_agent.py:1"], "\n".join(reports)
    assert "imports torch" in next(r for r in reports if r.startswith("agent/lazy_torch.py"))
    assert "never import host" in next(r for r in reports if r.startswith("agent/relative_host.py"))
    assert "at import time" in next(r for r in reports if r.startswith("agent/eager_numpy.py"))
    assert "at import time" in next(r for r in reports if r.startswith("shared/numpy_user.py"))
    assert "third-party" in next(r for r in reports if r.startswith("agent/yaml_user.py"))


def test_cycle_check_reports_the_cycle(tmp_path):
    write_tree(tmp_path, {
        "host/first.py": "from . import second\n",
        "host/second.py": "def later():\n    from .first import value\n",   # a lazy import still closes it
        "host/pkg/third.py": "from edgeshrink.host.pkg import fourth\n",
        "host/pkg/fourth.py": "from ..pkg.third import x\n",
        "host/acyclic.py": "from . import first\nfrom .pkg import third\n",
        "shared/alone.py": "from . import alone\n",  # importing itself is not a cycle between modules
    })
    assert import_cycles(tmp_path) == [
        ["edgeshrink.host.first", "edgeshrink.host.second", "edgeshrink.host.first"],
        ["edgeshrink.host.pkg.fourth", "edgeshrink.host.pkg.third", "edgeshrink.host.pkg.fourth"],
    ]


def test_private_name_check_reports_underscore_imports(tmp_path):
    write_tree(tmp_path, {
        "host/helpers.py": "_cache = {}\ndef public():\n    pass\n",
        "host/_hidden.py": "",
        "host/user.py": ("from .helpers import public, _cache\nfrom . import _hidden\nfrom . import __version__\n"
                         "from ._hidden import anything\n"),
        "agent/user.py": "from edgeshrink.host.helpers import _cache as cache\n",
    })
    assert sorted(private_name_imports(tmp_path)) == [
        "agent/user.py:1 edgeshrink.agent.user imports the private name _cache from edgeshrink.host.helpers",
        "host/user.py:1 edgeshrink.host.user imports the private name _cache from edgeshrink.host.helpers",
        "host/user.py:2 edgeshrink.host.user imports the private module _hidden from edgeshrink.host",
        "host/user.py:4 edgeshrink.host.user imports from the private module edgeshrink.host._hidden",
    ]


# Run under the board's interpreter, the given folders or zipapps first on sys.path.
_IMPORT_PROBE = """
import importlib, json, sys
probe = json.loads(sys.argv[1])
sys.path[:0] = probe["path"]
for name in probe["modules"]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in probe["watched"]
                        or m == "edgeshrink.host" or m.startswith("edgeshrink.host."))))
"""


def modules_loaded_on_import(python, search_path, modules, stub_dir):
    """Which modules of torch, host/ or the optional runtimes importing ``modules`` loads.

    A stand-in ``torch`` package is importable (the board environment has none), so a
    guarded ``try: import torch`` shows too.
    """
    write_tree(stub_dir, {"torch/__init__.py": ""})
    probe = {"path": [str(p) for p in search_path] + [str(stub_dir)], "modules": list(modules),
             "watched": sorted(AGENT_OPTIONAL_RUNTIMES | {"torch"})}
    result = subprocess.run([python, "-I", "-c", _IMPORT_PROBE, json.dumps(probe)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_importing_every_agent_module_loads_no_torch_host_or_runtime(python38, tmp_path):
    bundle = agent_bundle.build(tmp_path / "bundle")
    modules = [m for m in project_modules(REPO) if m.startswith(AGENT) or m.startswith(SHARED)]
    assert "edgeshrink.agent.server" in modules and "edgeshrink.agent.measure" in modules
    assert modules_loaded_on_import(python38, [bundle.path], modules, tmp_path / "stubs") == []


def test_import_probe_sees_a_guarded_torch_import_and_an_eager_runtime(python38, tmp_path):
    write_tree(tmp_path / "fake", {
        "edgeshrink/agent/sneaky.py": "try:\n    import torch\nexcept ImportError:\n    torch = None\n",
        "edgeshrink/agent/eager.py": "import numpy\n",
    })
    loaded = modules_loaded_on_import(python38, [tmp_path / "fake"],
                                      ["edgeshrink.agent.sneaky", "edgeshrink.agent.eager"], tmp_path / "stubs")
    assert "torch" in loaded and "numpy" in loaded


def test_every_package_folder_is_listed_for_a_non_editable_install():
    """pyproject lists the packages by hand (the three top-level folders install under one
    `edgeshrink` namespace), so a new subpackage left out would be missing from a wheel
    while an editable install still finds it."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"edgeshrink." + ".".join(init.parent.relative_to(REPO).parts)
             for top in ("host", "agent", "shared") for init in (REPO / top).rglob("__init__.py")}
    assert found - listed == set(), "add to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "listed in pyproject.toml but not a package folder"
