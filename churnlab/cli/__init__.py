"""churnlab: the lab's command line, one module per command group (typer's
one-file-per-command). The Makefile is a front door to these commands."""
from churnlab.cli.app import app, main

__all__ = ["app", "main"]
