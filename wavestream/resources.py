"""Where the data files beside the code are: Avro schemas, SQL migrations, workflows and
the example postings.

The repository keeps them at the top level (``schemas/``, ``sql/``, ``workflows/``,
``examples/``, DESIGN §1); the wheel maps each into the package as
``wavestream/_data/<name>/`` (``[tool.setuptools.package-dir]`` in pyproject.toml), so an
installed wavestream finds them from any working directory and a source checkout (or an
editable install) uses the top-level directories.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from wavestream import PROJECT_ROOT

#: The data directories that ship with the package.
NAMES = ("schemas", "sql", "workflows", "examples")


def resource_dir(name: str) -> Path:
    """The directory holding data ``name`` (one of :data:`NAMES`): the installed copy
    (``wavestream/_data/<name>``) when there is one, else the source checkout's.

    Raises:
        ValueError: ``name`` is not one of :data:`NAMES`.
    """
    if name not in NAMES:
        raise ValueError(f"unknown resource directory {name!r} (one of {', '.join(NAMES)})")
    installed = Path(str(resources.files("wavestream").joinpath("_data", name)))
    return installed if installed.is_dir() else PROJECT_ROOT / name


def default_workflow() -> Path:
    """The workflow commands use when none is given: ``workflows/default.yaml``."""
    return resource_dir("workflows") / "default.yaml"
