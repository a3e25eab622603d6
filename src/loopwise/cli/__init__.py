"""The ``loopwise`` command line: one module per noun, one Typer app."""

from loopwise.cli.app import app, main

__all__ = ["app", "main"]
