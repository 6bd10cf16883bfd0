"""Packaging: the sdist and the wheel carry the shipped models, and an install finds them.

An sdist is built from the checkout and a wheel from that sdist (as ``python -m build`` does), with
the checkout's setuptools (no build isolation: nothing is downloaded). The wheel is installed into
a fresh virtual environment, run from a directory outside the checkout: it must render with a
shipped model by name. So is an editable wheel, whose models must be the checkout's.

The fresh environments borrow numpy, numba, onnxruntime and the rest from the test interpreter's
site-packages through a ``.pth`` line, appended after their own site-packages, so the rtst they
import is the one installed into them (each test checks ``rtst.__file__``); a ``.pth`` line adds a
folder to ``sys.path`` without running the ``.pth`` files in it, so the checkout's editable install
there stays inactive.
"""

from __future__ import annotations

import ast
import doctest
import json
import os
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("bells", "cello", "cello-ll", "organ")
#: What each shipped model brings beside its .onnx file.
COMPANIONS = (".onnx", ".golden.npz", ".style.flac")

pytest.importorskip("setuptools.build_meta")
# pip installs into the fresh environments from outside them (--python, pip 22.3)
if tuple(int(p) for p in pytest.importorskip("pip").__version__.split(".")[:2]) < (22, 3):
    pytest.skip("pip 22.3 or later is needed (--python)", allow_module_level=True)


def _run(cmd, cwd, timeout=300):
    """Run ``cmd`` in ``cwd`` without the checkout on PYTHONPATH; fail with its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{cmd} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run.stdout


def _build(hook: str, source: Path, out: Path) -> Path:
    """Call setuptools' PEP 517 ``hook`` in ``source``; return the file it wrote to ``out``."""
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    name = _run([sys.executable, "-c", code], cwd=source).strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """``(sdist, wheel)``: the sdist of the checkout and the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    sdist = _build("build_sdist", REPO, out)
    with tarfile.open(sdist) as tar:
        # the "data" filter (refuse links and paths out of the folder) where this Python has it
        tar.extractall(out / "src", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (source,) = (out / "src").iterdir()
    wheel = _build("build_wheel", source, out)
    return sdist, wheel


def _venv(root: Path, wheel: Path) -> Path:
    """A fresh virtual environment in ``root`` with ``wheel`` installed; returns its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", root / "venv"], cwd=root)
    python = root / "venv" / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
          "--disable-pip-version-check", wheel], cwd=root)
    # after the install, so pip never sees the test interpreter's packages (its rtst among them)
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).strip())
    (purelib / "_rtst_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


_REPORT = ("import json, rtst, rtst.model as m; print(json.dumps({'rtst': rtst.__file__, "
           "'folder': str(m.MODELS_DIR), 'names': m.list_models()}))")


def test_sdist_carries_the_shipped_models(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for name in SHIPPED:
        for suffix in COMPANIONS:
            assert f"models/{name}{suffix}" in names, f"{sdist.name} lacks models/{name}{suffix}"
    assert {"models/__init__.py", "models/README.md", "MANIFEST.in", "rtst/data/demo.wav"} <= names


def test_wheel_carries_every_package_and_the_shipped_models(dists):
    _, wheel = dists
    names = set(zipfile.ZipFile(wheel).namelist())
    # setup.cfg lists the packages by hand (rtst.models lives outside rtst/): a new one must be added
    for init in sorted((REPO / "rtst").rglob("__init__.py")):
        member = init.relative_to(REPO).as_posix()
        assert member in names, f"{wheel.name} lacks {member}: add its package to setup.cfg's packages"
    for name in SHIPPED:
        for suffix in COMPANIONS:
            assert f"rtst/models/{name}{suffix}" in names
    assert "rtst/models/README.md" in names
    assert not any(n.startswith("models/") for n in names), "the models must install inside rtst, not as 'models'"


def test_installed_wheel_renders_with_a_shipped_model_from_anywhere(dists, tmp_path):
    _, wheel = dists
    python = _venv(tmp_path, wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    report = json.loads(_run([python, "-c", _REPORT], cwd=work))
    venv = (tmp_path / "venv").resolve()
    assert Path(report["rtst"]).resolve().is_relative_to(venv), report
    folder = Path(report["folder"]).resolve()
    assert folder.is_relative_to(venv), report
    assert set(SHIPPED) | {"identity"} <= set(report["names"]) and report["names"] == sorted(report["names"]), report
    for suffix in COMPANIONS:
        assert (folder / f"cello{suffix}").is_file()

    sr = 48000
    t = np.arange(int(0.5 * sr)) / sr
    x = (0.2 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * np.sin(2 * np.pi * 660.0 * t)).astype(np.float32)
    sf.write(work / "in.wav", x, sr, subtype="FLOAT")
    _run([python.parent / "rtst", "render", "in.wav", "out.wav", "--model", "cello"], cwd=work)
    y, rate = sf.read(work / "out.wav")
    assert rate == sr and y.shape == x.shape
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) > 1e-3


def test_editable_install_finds_the_checkout_models(tmp_path):
    wheel = _build("build_editable", REPO, tmp_path)
    python = _venv(tmp_path, wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    report = json.loads(_run([python, "-c", _REPORT], cwd=work))
    assert Path(report["rtst"]).resolve() == (REPO / "rtst" / "__init__.py").resolve(), report
    assert Path(report["folder"]).resolve() == (REPO / "models").resolve(), report
    assert set(SHIPPED) <= set(report["names"]), report


def test_list_models_doctest_runs():
    import rtst.model.registry

    result = doctest.testmod(rtst.model.registry, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def _model_imports(path: Path) -> set[str]:
    """The rtst.model modules ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("rtst.model.") and n.count(".") == 2}
    return found


def test_model_modules_import_one_another_without_a_cycle():
    modules = {f"rtst.model.{p.stem}": _model_imports(p) for p in (REPO / "rtst" / "model").glob("*.py")
               if p.stem != "__init__"}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"import cycle: {' -> '.join(trail + [name])}"
        state[name] = "open"
        for other in sorted(modules.get(name, ())):
            visit(other, trail + [name])
        state[name] = "done"

    for name in sorted(modules):
        visit(name, [])
