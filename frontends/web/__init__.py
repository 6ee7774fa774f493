"""Parley's Textual UI in a web browser: ``parley web``, through textual-serve.

``options`` owns the command's flags and their ``PARLEY_WEB_*`` variables (no textual-serve
import, so help and bad values need no extra); ``server`` the web server itself. Each browser
tab gets its own ``parley tui --fixed-server`` process. Nothing under ``app/`` imports this.
"""
