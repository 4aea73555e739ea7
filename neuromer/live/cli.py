"""Registers the live sub-commands (``streams``, ``record``, ``play``, ``present``, ``online``).

Each live module defines ``add_command(subparsers)`` next to the code it drives, so the argument
parsing and the function it calls cannot drift apart.
"""

from __future__ import annotations

import importlib

_MODULES = ("streams", "record", "play", "present", "online")


def add_live_commands(subparsers) -> None:
    """Add every live sub-command to the ``neuromer`` parser's ``subparsers``."""
    for name in _MODULES:
        importlib.import_module(f"neuromer.live.{name}").add_command(subparsers)
