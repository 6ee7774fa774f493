"""The Textual terminal frontend: ``parley tui`` and ``parley demo``.

The package owns everything drawn in a terminal: the app and its layout (``app.py``), the bridge
that posts engine events as Textual messages (``bridge.py``), the message log (``chatlog.py``),
the side panels and status line (``panels.py``), the input line (``prompt.py``), the login
screen (``login.py``), the entry points of both commands (``run.py``) and the styles
(``parley.tcss``). Nothing here speaks the wire protocol; it drives the client engine only.
"""
