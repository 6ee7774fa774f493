"""Parley: a small self-hosted chat server, its client engine and its wire protocol."""

from __future__ import annotations

__version__ = "0.1.0"
