"""An X display for running the Tk window headless: tests, the screenshot script, the benchmark.

``virtual_display()`` yields the display named in ``DISPLAY`` when there is one (unless told not
to reuse it, as the screenshot script does to shoot a clean screen); otherwise it
starts Xvfb on a display number Xvfb picks itself (``-displayfd``, so parallel runs never
collide), points ``DISPLAY`` at it for the duration, and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator


class NoDisplay(RuntimeError):
    """Neither ``DISPLAY`` nor a working Xvfb is available."""


@contextlib.contextmanager
def virtual_display(screen: str = "1280x800x24", *, reuse: bool = True) -> Iterator[str]:
    """``DISPLAY`` if set (and ``reuse``), else a private Xvfb of ``screen`` (WxHxDEPTH) while
    the block runs."""
    existing = os.environ.get("DISPLAY")
    if existing and reuse:
        yield existing
        return
    if shutil.which("Xvfb") is None:
        raise NoDisplay("no X display: set DISPLAY or install Xvfb (apt-get install xvfb)")
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            raise NoDisplay("Xvfb did not start")
        os.environ["DISPLAY"] = f":{number}"
        yield os.environ["DISPLAY"]
    finally:
        if existing:
            os.environ["DISPLAY"] = existing
        else:
            os.environ.pop("DISPLAY", None)
        xvfb.terminate()
        xvfb.wait(10)
