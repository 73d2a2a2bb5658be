"""Where benchmark data comes from: a local directory, the Hugging Face hub, or the embedded sample.

Resolution order for every benchmark: an explicit ``data_dir`` (task metadata / argument), then the
``ENDORM_DATA_DIR`` environment variable, then the hub id. A local directory must follow the layout
of the project's ``shared/data`` folder (``rm_bench/``, ``dsp/``, ``math_eval/<name>/test.jsonl``,
``math_train/MATH/train/<subject>/<n>.json``).
"""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterable
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

import jsonlines

DATA_DIR_ENV = "ENDORM_DATA_DIR"
SAMPLE_SOURCE = "embedded-sample"
"""The data source of the few items shipped in the package for smoke tests (never benchmark results)."""


class DataError(ValueError):
    """A data file is missing or does not have the expected schema."""


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local data directory to use, or None when data should come from the hub."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        source = "data_dir" if data_dir else DATA_DIR_ENV
        raise DataError(f"{source}={chosen!r} is not a directory")
    return path


def hub_offline() -> bool:
    """True when the user told huggingface_hub not to use the network."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def decode_utf8(data: bytes, path: Path, line_no: int | None = None) -> str:
    """``data`` as UTF-8 text; a DataError naming the file, line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = line_no if line_no is not None else before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1 if line_no is None else err.start + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None


def read_json(path: Path) -> Any:
    """Parse a UTF-8 JSON file, naming the file (and line) in every error."""
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    text = decode_utf8(path.read_bytes(), path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err})") from err


def read_jsonl(path: Path) -> list[dict]:
    """Parse a UTF-8 JSON-lines file (one object per non-blank line), naming file and line in errors."""
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    with path.open("rb") as f:
        # Lines are decoded here so that a bad byte is reported with its column (``decode_utf8``).
        lines = (decode_utf8(raw, path, line_no) for line_no, raw in enumerate(f, start=1))
        try:
            return list(jsonlines.Reader(lines, loads=json.loads).iter(type=dict, skip_empty=True))
        except jsonlines.InvalidLineError as err:
            if isinstance(err.__cause__, json.JSONDecodeError):
                raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.__cause__})") from err.__cause__
            found = type(json.loads(err.line)).__name__  # a null or another JSON value than an object
            raise DataError(f"{path}:{err.lineno}: expected a JSON object, got {found}") from None


def jsonl_text(rows: Iterable[Any], *, allow_nan: bool = True) -> str:
    """``rows`` as JSON lines (UTF-8 text kept as is), each ending in a newline; encoded in full before
    anything is returned, so a row that cannot be encoded leaves no partial output."""
    buffer = io.StringIO()
    jsonlines.Writer(buffer, dumps=partial(json.dumps, ensure_ascii=False, allow_nan=allow_nan)).write_all(rows)
    return buffer.getvalue()


def write_jsonl(path: Path, rows: Iterable[Any], *, mode: str = "w") -> None:
    """Write (``mode="w"``) or append (``"a"``) ``rows`` to a JSON-lines file (``jsonl_text``)."""
    with jsonlines.open(path, mode=mode, dumps=partial(json.dumps, ensure_ascii=False)) as writer:
        writer.write_all(rows)


def read_records(path: Path) -> list[dict]:
    """Rows of a JSON array, JSONL or parquet file (the formats hub datasets are exported in)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".parquet":
        if not path.is_file():
            raise DataError(f"missing data file: {path}")
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix == ".json":
        data = read_json(path)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a JSON array of objects")
        return data
    raise DataError(f"{path}: unsupported file type {suffix!r} (expected .json, .jsonl or .parquet)")


def require_items(rows: list[dict], where: str | Path) -> list[dict]:
    """``rows``, refused when there are none: a benchmark file or split that holds no items is a broken
    copy, not an empty benchmark."""
    if not rows:
        raise DataError(f"{where} holds no items")
    return rows


def require_fields(row: dict, fields: dict[str, type | tuple[type, ...]], where: str) -> None:
    """Check that ``row`` has each field with the expected type; ``where`` names the file and row."""
    for name, expected in fields.items():
        if name not in row:
            raise DataError(f"{where}: missing field {name!r}")
        if not isinstance(row[name], expected):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise DataError(f"{where}: field {name!r} should be {names}, got {type(row[name]).__name__}")


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host answers at all: without network, ``datasets`` retries for ~30 s a file."""
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def load_hub_split(hub_id: str, split: str, *, offline_hint: str | None = None, **kwargs: Any) -> list[dict]:
    """Rows of a hub dataset split, with an error that says how to work offline (``offline_hint``, by
    default: point the data directory at a local copy)."""
    import datasets

    hint = offline_hint or f"point {DATA_DIR_ENV} (or the task's data_dir metadata) at a local copy"
    if not hub_offline() and not hub_reachable():
        raise DataError(f"could not load {hub_id!r}: the Hugging Face hub is unreachable; {hint}")
    try:
        return datasets.load_dataset(hub_id, split=split, **kwargs).to_list()
    except Exception as err:  # noqa: BLE001 - any hub failure gets the same actionable message
        raise DataError(
            f"could not load {hub_id!r} from the Hugging Face hub ({type(err).__name__}: {err}); "
            f"without network, {hint}"
        ) from err


def embedded_path(name: str) -> Path:
    """Path of a file shipped in ``endorm_tasks/data`` (see its README for licences)."""
    return Path(str(resources.files("endorm_tasks") / "data" / name))


def task_configs_dir() -> Path:
    """The installed ``task_configs`` folder (inside the distribution, so wheels find it too)."""
    return Path(str(resources.files("endorm_tasks.task_configs")))
