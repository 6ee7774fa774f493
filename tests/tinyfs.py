"""A real, tiny filesystem for the storage-fault tests: a tmpfs that can be filled and emptied,
and remounted read-only while nothing holds a file on it open for writing.

Mounting needs privileges (root, or CAP_SYS_ADMIN); where the machine refuses, the test that
asked is skipped with the reason. Every mount is undone at the end of its test, lazily if a
process still holds it. Linux refuses to remount a filesystem read-only while a file on it is
open for writing (EBUSY): a running SQLite store keeps its files so open, so a store can meet a
read-only filesystem only when it opens one; a filesystem that fills up while a store runs is
what these tests use for a write that starts failing and later works again. ``read_only_file``
bind-mounts one file read-only over itself: its folder stays writable, as for a database file
that only the server's user cannot write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = ".filler"


class TinyFS:
    """A mounted tmpfs at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self) -> int:
        """Take every free byte with a filler file; how many bytes it took."""
        taken = 0
        fd = os.open(self.path / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (1 << 16, 1 << 12, 1 << 9, 1):
                block = b"\0" * size
                while True:
                    try:
                        taken += os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return taken

    def free(self) -> None:
        """Give back what ``fill`` took."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path / FILLER)

    def remount(self, mode: str) -> None:
        """Remount ``ro`` or ``rw`` (``ro`` fails while a file on it is open for writing)."""
        _mount("-o", f"remount,{mode}", str(self.path))


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def tinyfs(path: Path, size: str = "2m") -> Iterator[TinyFS]:
    """A tmpfs of ``size`` mounted at ``path`` (created), unmounted at the end; skips the test
    where the machine does not let it mount."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    except FileNotFoundError:
        pytest.skip("no mount command, so no tiny filesystem to fill")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.strip() or exc.returncode}")
    try:
        yield TinyFS(path)
    finally:
        try:
            subprocess.run(["umount", str(path)], check=True, capture_output=True, timeout=30)
        except subprocess.CalledProcessError:
            subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


@contextlib.contextmanager
def read_only_file(path: Path) -> Iterator[Path]:
    """``path`` (an existing file) bind-mounted read-only over itself, undone at the end; skips
    the test where the machine does not let it mount."""
    try:
        _mount("--bind", "-o", "ro", str(path), str(path))
    except FileNotFoundError:
        pytest.skip("no mount command, so no read-only file")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot bind-mount a file read-only here: {exc.stderr.strip()}")
    try:
        yield path
    finally:
        try:
            subprocess.run(["umount", str(path)], check=True, capture_output=True, timeout=30)
        except subprocess.CalledProcessError:
            subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)
