"""File names made from names found in data (a sweep's benchmark keys, a run's model label).

A name read from a file is never a path: it becomes one plain file name inside the output directory,
or it is refused. ``safe_name`` refuses (a name the data must already spell safely), ``slug`` replaces
(a name that legitimately holds other characters, such as a hub id with ``/``), ``output_file`` joins
and checks that the result stays inside the output directory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from endorm_tasks.data_sources import DataError

MAX_NAME_CHARS = 100
"""Room for a prefix and suffix around the name within the usual 255-byte file-name limit."""
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""ASCII letters, digits, ``.``, ``_``, ``-``; the first character a letter or digit, so never ``.``,
``..``, a hidden file or something an option parser reads as a flag."""
UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
HASH_CHARS = 8


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_NAME_CHARS and SAFE_NAME.fullmatch(name) is not None


def safe_name(name: object, what: str) -> str:
    """``name`` itself when it is a plain file name (``SAFE_NAME``, at most ``MAX_NAME_CHARS``); a
    DataError naming ``what`` (e.g. ``"sweep.json: length_bias key"``) otherwise."""
    if not is_safe_name(name):
        raise DataError(
            f"{what} {name!r} cannot name a file: expected at most {MAX_NAME_CHARS} ASCII letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return name


def slug(name: str) -> str:
    """A plain file name for any ``name``: ``name`` itself when already safe, else its unsafe runs
    replaced by ``-``, cut to fit, and followed by a short hash of the full name, so that two names
    never share a file (``a/b`` and ``a-b`` stay apart)."""
    if is_safe_name(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    stem = UNSAFE_RUN.sub("-", name)[: MAX_NAME_CHARS - HASH_CHARS - 1].strip(".-_")
    return f"{stem}-{digest}" if stem else digest


def output_file(out_dir: Path, file_name: str) -> Path:
    """``out_dir / file_name``, refused unless ``file_name`` is one file name (no separator, not ``.``
    or ``..``, no NUL) and the path, symbolic links followed, stays inside ``out_dir``."""
    path = out_dir / file_name
    single = file_name not in ("", ".", "..") and "\0" not in file_name and Path(file_name).name == file_name
    if not (single and path.resolve().is_relative_to(out_dir.resolve())):
        raise DataError(f"{file_name!r} is not a file inside {out_dir}: refusing to write {path}")
    return path
