"""The ``parley`` command, above everything it launches.

``parley.cli`` parses the command line and hands each subcommand to the layer that runs it:
``serve`` to ``app.server``, ``tui`` and ``demo`` to ``frontends.tui``, ``tk`` to
``frontends.tk`` and, in a source checkout, ``bench`` to ``benchmarks``. Each is imported only
when its command runs, so ``parley serve`` loads no frontend, and nothing under ``app/`` imports
this package: the arrows point down from here.
"""
