"""``python -m parley`` is the ``parley`` command."""

from __future__ import annotations

import sys

from parley.cli import main

if __name__ == "__main__":
    sys.exit(main())
