"""The Parley server: sessions, rooms, fan-out and limits over asyncio."""

from __future__ import annotations

from app.server.backplane import Backplane, LocalBackplane
from app.server.config import ServerConfig
from app.server.hub import Hub
from app.server.runner import Server, run, serve

__all__ = ["Backplane", "Hub", "LocalBackplane", "Server", "ServerConfig", "run", "serve"]
