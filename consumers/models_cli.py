"""``wavestream models``: list, install and verify the model catalogue
(:mod:`consumers.catalogue`). Registered through :data:`consumers.cli.COMMANDS`."""

from __future__ import annotations

import sys

import click


@click.group("models")
def models() -> None:
    """The model catalogue: GGUF models shipped in PyPI packages."""


@models.command("list")
def list_models() -> None:
    """Every catalogue model, whether it is installed, and its description."""
    from consumers.catalogue import ModelFileError, load_catalogue, verified_path

    for name, model in load_catalogue().items():
        try:
            state = str(verified_path(name))
        except ModelFileError as exc:
            state = f"not installed or invalid: {exc}"
        click.echo(f"{name}  {model.description}\n  {state}")


@models.command("install")
@click.argument("names", nargs=-1)
def install_models(names: tuple[str, ...]) -> None:
    """Install (pip, pinned, no dependencies), assemble and verify NAMES (default: all)."""
    from consumers.catalogue import install, load_catalogue

    for name in names or tuple(load_catalogue()):
        path = install(name)
        click.echo(f"{name}: {path} verified")


@models.command("verify")
@click.argument("names", nargs=-1)
def verify_models(names: tuple[str, ...]) -> None:
    """Check NAMES (default: all) against their sha256 and general.name; exit 1 if any fails."""
    from consumers.catalogue import ModelFileError, load_catalogue, verified_path

    failed = False
    for name in names or tuple(load_catalogue()):
        try:
            click.echo(f"{name}: {verified_path(name)} ok")
        except ModelFileError as exc:
            click.echo(f"error: {name}: {exc}")
            failed = True
    if failed:
        sys.exit(1)
