"""Parley's Textual UI served to any SSH client: ``parley ssh``.

``options`` owns the command's flags and their ``PARLEY_SSH_*`` variables (it imports no
asyncssh, so ``parley ssh --help`` and a bad flag work without the ``ssh`` extra); ``hostkey``
the gateway's own key; ``terminal`` one visitor's ``parley tui`` on a pseudo-terminal;
``gateway`` the asyncssh server, its refusals and limits. Nothing under ``app/`` imports this.
"""
