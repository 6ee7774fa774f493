"""The TOML side of ``parley serve --config``: reading a file, finding a key's line, writing values.

This module owns the file format, not the settings: ``read_toml`` reads and parses a file (tomllib,
or tomli on Python 3.10) with one-sentence errors for a file that cannot be read, is not UTF-8 or
is not TOML; ``line_of`` finds the line that sets a key, which tomllib does not report, so that
an error can name it; ``toml_value`` writes a value back as ``--print-config`` prints it, and
``shown`` names a value of the wrong type in an error. Which keys exist and what each accepts is
``app.server.settings``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from app.server.checks import UsageError, os_reason

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]


def read_toml(path: str, named_by: str) -> tuple[str, dict[str, Any]]:
    """The text of the TOML file at ``path`` and its table; ``named_by`` says what named it."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the {named_by} file {path}: {os_reason(exc)}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the {named_by} file {path} is not UTF-8 text") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"{path} is not valid TOML: {reason[:1].lower()}{reason[1:]}") from None
    return text, table


def toml_value(value: object) -> str:
    """``value`` (a string, a number or a bool) written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML wants DEL escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return str(value)


def shown(value: object) -> str:
    """What kind of value ``value`` is, for an error: itself if short and simple."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return toml_value(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date or time"


def line_of(text: str, key: str) -> int | None:
    """The line of ``text`` where the top-level ``key`` is set or its table starts.

    tomllib reports no positions, so the assignment is found by scanning: a top-level key is set
    before the first table header, or is itself a header (``[key]``, ``[key.sub]``, ``[[key]]``).
    """
    name = "(?:{0}|\"{0}\"|'{0}')".format(re.escape(key))
    assignment = re.compile(rf"\s*{name}\s*[=.]")
    header = re.compile(rf"\s*\[\[?\s*{name}\s*[\].]")
    in_table = False
    for number, line in enumerate(text.splitlines(), 1):
        if header.match(line):
            return number
        if line.lstrip().startswith("["):
            in_table = True
        elif not in_table and assignment.match(line):
            return number
    return None
