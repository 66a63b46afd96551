"""What the wheel holds, checked against the source tree: every code package is listed
in pyproject.toml, and the data directories of DESIGN §1 (schemas/, sql/, workflows/,
examples/) are mapped into the package, where :mod:`wavestream.resources` finds them."""

from __future__ import annotations

import tomllib

import pytest

from wavestream import PROJECT_ROOT
from wavestream.resources import NAMES, default_workflow, resource_dir

pytestmark = pytest.mark.unit

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
CODE_ROOTS = ("wavestream", "producers", "consumers", "projector")


def test_every_code_package_is_in_the_wheel():
    found = {
        ".".join(init.parent.relative_to(PROJECT_ROOT).parts)
        for root in CODE_ROOTS for init in (PROJECT_ROOT / root).rglob("__init__.py")
    }
    listed = {p for p in SETUPTOOLS["packages"] if not p.startswith("wavestream._data")}
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "pyproject.toml lists packages that do not exist"


@pytest.mark.parametrize("name", NAMES)
def test_data_directories_are_mapped_into_the_package(name):
    package = f"wavestream._data.{name}"
    assert package in SETUPTOOLS["packages"]
    assert SETUPTOOLS["package-dir"][package] == name
    patterns = SETUPTOOLS["package-data"][package]
    files = {p for pattern in patterns for p in (PROJECT_ROOT / name).glob(pattern)}
    every = {p for p in (PROJECT_ROOT / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files == every, f"files under {name}/ that the wheel would leave out: {sorted(every - files)}"


def test_a_source_checkout_uses_the_top_level_directories():
    for name in NAMES:
        assert resource_dir(name) == PROJECT_ROOT / name
    assert default_workflow() == PROJECT_ROOT / "workflows" / "default.yaml" and default_workflow().is_file()
    with pytest.raises(ValueError, match="unknown resource directory"):
        resource_dir("secrets")


def test_code_reads_data_through_resource_dir():
    """No module computes a data path from its own location (that breaks in a wheel)."""
    offenders = []
    for root in CODE_ROOTS:
        for path in (PROJECT_ROOT / root).rglob("*.py"):
            text = path.read_text()
            allowed = path.name == "__init__.py" or path == PROJECT_ROOT / "wavestream" / "resources.py"
            if not allowed and ("PROJECT_ROOT" in text or "parent.parent" in text):
                offenders.append(str(path.relative_to(PROJECT_ROOT)))
    assert offenders == []
