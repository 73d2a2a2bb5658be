"""Token statistics of a scoring run, kept once so that reward configurations can be swept for free.

Every reward form, gamma and aggregate is a function of three numbers per scored token
(docs/definitions.md#token-reward):
q_t = f(s_t, a_t), v_t = V(s_t) and v_next_t = V(s_{t+1}). A store keeps those, never the logits.
One store = one benchmark scored by one model, as a directory of three files and an optional fourth:

- ``run.json``: what produced the numbers: ``format``, ``version``, ``benchmark``, ``model``,
  ``alpha``, ``append_eos``, ``prompt_format``, ``data_source``, ``subset`` (e.g. the first N items
  per domain), ``n_items``, ``n_responses``, ``n_tokens``. ``alpha`` and ``append_eos`` change the
  stats themselves (V is a logsumexp at temperature alpha; append_eos adds a scored token), and so do
  the model and the prompt format: none of them can be swept from a store. ``gamma``,
  ``reward_form``, ``aggregate`` and ``terminal_value`` can.
- ``responses.jsonl``: one row per scored response, in the order of the arrays: ``item`` (document
  id), ``group`` (RM-Bench domain, Multifaceted source, else null), ``condition`` (what the reward
  was conditioned on: the DSP domain RM, the Multifaceted system row, else null), ``role`` and
  ``index`` (where the response sits in its document), ``n_tokens`` (scored tokens, end-of-turn
  included when append_eos) and ``text_sha1`` (identical texts are ties; the text itself is not kept).
- ``stats.npz``: float32 ``q``, ``v``, ``v_next`` and int32 ``token_ids`` of all responses
  concatenated, and int64 ``offsets`` (response k owns ``[offsets[k], offsets[k + 1])``). The ids are
  the scorer's (``EndoScorer.encode_response``: the response encoded as text, special tokens' strings
  included, docs/definitions.md#text-is-text); a store never encodes anything itself.
- ``units.npz`` (when the sentence units were found; ``endorm-sweep score`` always finds them): int32
  ``unit_starts``, the first token of each sentence unit relative to its response, int64
  ``unit_offsets`` (response k owns ``unit_starts[unit_offsets[k]:unit_offsets[k + 1]]``) and a copy of
  ``offsets`` that ties the file to its ``stats.npz``. The sentence aggregates
  (docs/definitions.md#sentence-reward) are swept from it. A store without it (written before the
  units existed) is read as before and swept for every other aggregate; the file adds to the layout
  without changing the other three, which readers that predate it read as they always did, so the
  version stays 1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from endorm_tasks.data_sources import DataError, read_json, read_jsonl, require_fields, write_jsonl
from endorm_tasks.reward.config import StatsSettings
from endorm_tasks.reward.scorer import TokenStats
from endorm_tasks.reward.sentences import check_starts

FORMAT = "endorm-token-store"
VERSION = 1
RUN_FILE = "run.json"
RESPONSES_FILE = "responses.jsonl"
STATS_FILE = "stats.npz"
UNITS_FILE = "units.npz"
NOT_SWEEPABLE: tuple[str, ...] = ("model", "alpha", "append_eos", "prompt_format")
"""Settings that change the stored numbers themselves; a new scoring run is needed to vary them."""


def text_sha1(text: str) -> str:
    """Fingerprint of a response text: equal fingerprints = identical texts (a tie by definition)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ResponseMeta:
    """Where one scored response belongs; ``n_tokens`` is filled in once it has been scored."""

    item: str
    role: str
    index: int = 0
    group: str | None = None
    condition: str | None = None
    text_sha1: str = ""
    n_tokens: int = 0


@dataclass(frozen=True)
class RunMeta:
    """What produced a store's numbers (``run.json`` without the counts, which are derived)."""

    benchmark: str
    model: str
    alpha: float
    append_eos: bool
    prompt_format: str
    data_source: str
    subset: str = "all items"
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else worth recording (domains, limit, ...)."""

    @property
    def settings(self) -> StatsSettings:
        """The reward settings the stored statistics were computed with."""
        return StatsSettings(alpha=self.alpha, append_eos=self.append_eos)


@dataclass
class TokenStore:
    """A loaded store: run metadata, one ``ResponseMeta`` and one ``TokenStats`` per response."""

    run: RunMeta
    responses: list[ResponseMeta]
    stats: list[TokenStats]

    @property
    def n_items(self) -> int:
        return len({r.item for r in self.responses})

    @property
    def has_units(self) -> bool:
        """Whether every response's sentence units are stored (the sentence aggregates need them)."""
        return all(s.unit_starts is not None for s in self.stats)


def save_store(path: Path, run: RunMeta, responses: Sequence[ResponseMeta], stats: Sequence[TokenStats]) -> Path:
    """Write ``run.json``, ``responses.jsonl``, ``stats.npz`` and, when every response has its sentence
    units, ``units.npz`` into ``path`` (created if needed)."""
    if len(responses) != len(stats):
        raise ValueError(f"{len(responses)} response rows but {len(stats)} token stats")
    lengths = [len(s.token_ids) for s in stats]
    computed = {s.settings for s in stats} - {run.settings}
    if computed:
        raise ValueError(f"run.json would record {run.settings} but statistics were computed with {computed.pop()}")
    for meta, n in zip(responses, lengths):
        if meta.n_tokens != n:
            raise ValueError(f"{meta.item} {meta.role}[{meta.index}]: n_tokens {meta.n_tokens} but {n} stats")
    with_units = [s.unit_starts is not None for s in stats]
    if any(with_units) and not all(with_units):
        raise ValueError(f"{with_units.count(False)} of {len(stats)} responses have no sentence units; find them for all or none")
    path.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays = {name: np.concatenate([getattr(s, name).float().numpy() for s in stats]) for name in ("q", "v", "v_next")}
    token_ids = np.concatenate([np.asarray(s.token_ids, dtype=np.int32) for s in stats])
    np.savez_compressed(path / STATS_FILE, offsets=offsets, token_ids=token_ids, **arrays)
    if all(with_units):
        starts = np.concatenate([np.asarray(s.unit_starts, dtype=np.int32) for s in stats])
        unit_offsets = np.concatenate([[0], np.cumsum([len(s.unit_starts) for s in stats])]).astype(np.int64)
        np.savez_compressed(path / UNITS_FILE, unit_starts=starts, unit_offsets=unit_offsets, offsets=offsets)
    else:
        (path / UNITS_FILE).unlink(missing_ok=True)  # a previous store's units do not belong to these statistics
    write_jsonl(path / RESPONSES_FILE, (asdict(meta) for meta in responses))
    header = {"format": FORMAT, "version": VERSION, **asdict(run)}
    header.update(n_items=len({r.item for r in responses}), n_responses=len(responses), n_tokens=int(offsets[-1]))
    (path / RUN_FILE).write_text(json.dumps(header, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_run(path: Path) -> RunMeta:
    """The ``run.json`` of a store directory, checked."""
    file = path / RUN_FILE
    if not file.is_file():
        raise DataError(f"{path}: not a token store (no {RUN_FILE}); create one with `endorm-sweep score`")
    header = read_json(file)
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DataError(f"{file}: fields 'format'/'version' should be {FORMAT!r}/{VERSION}")
    require_fields(
        header,
        {"benchmark": str, "model": str, "alpha": (int, float), "append_eos": bool, "prompt_format": str, "data_source": str},
        str(file),
    )
    names = RunMeta.__dataclass_fields__
    return RunMeta(**{k: v for k, v in header.items() if k in names})


def load_store(path: Path) -> TokenStore:
    """Read a store written by ``save_store``; the arrays are split back into per-response tensors."""
    run = read_run(path)
    rows = read_jsonl(path / RESPONSES_FILE)
    responses = []
    for line, row in enumerate(rows, start=1):
        require_fields(row, {"item": str, "role": str, "index": int, "n_tokens": int, "text_sha1": str}, f"{path / RESPONSES_FILE} row {line}")
        responses.append(ResponseMeta(**{k: v for k, v in row.items() if k in ResponseMeta.__dataclass_fields__}))
    with np.load(path / STATS_FILE) as data:
        arrays = {name: data[name] for name in ("offsets", "token_ids", "q", "v", "v_next")}
    offsets = arrays["offsets"]
    if len(offsets) != len(responses) + 1:
        raise DataError(f"{path / STATS_FILE}: field 'offsets' has {len(offsets)} entries, expected {len(responses) + 1}")
    units = read_units(path, offsets)
    stats, settings = [], run.settings
    for k, meta in enumerate(responses):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        if hi - lo != meta.n_tokens:
            raise DataError(f"{path / RESPONSES_FILE} row {k + 1}: n_tokens {meta.n_tokens} but {hi - lo} stored tokens")
        if units is not None:
            try:
                check_starts(units[k], hi - lo)
            except ValueError as err:
                raise DataError(f"{path / UNITS_FILE}: field 'unit_starts' of response {k + 1}: {err}") from None
        stats.append(
            TokenStats(
                token_ids=arrays["token_ids"][lo:hi].tolist(),
                q=torch.from_numpy(arrays["q"][lo:hi].copy()),
                v=torch.from_numpy(arrays["v"][lo:hi].copy()),
                v_next=torch.from_numpy(arrays["v_next"][lo:hi].copy()),
                settings=settings,
                unit_starts=None if units is None else units[k],
            )
        )
    return TokenStore(run=run, responses=responses, stats=stats)


def read_units(path: Path, offsets: np.ndarray) -> list[tuple[int, ...]] | None:
    """Each response's unit starts from ``units.npz``, or None when the store has none."""
    file = path / UNITS_FILE
    if not file.is_file():
        return None
    with np.load(file) as data:
        missing = [name for name in ("unit_starts", "unit_offsets", "offsets") if name not in data.files]
        if missing:
            raise DataError(f"{file}: field {missing[0]!r} missing")
        starts, bounds, stats_offsets = data["unit_starts"].tolist(), data["unit_offsets"], data["offsets"]
    if not np.array_equal(stats_offsets, offsets):
        raise DataError(f"{file}: field 'offsets' differs from {STATS_FILE}'s: the units belong to other statistics")
    n = len(offsets) - 1
    if len(bounds) != n + 1 or bounds[0] != 0 or bounds[-1] != len(starts):
        raise DataError(f"{file}: field 'unit_offsets' does not split 'unit_starts' over {n} responses")
    return [tuple(starts[int(bounds[k]) : int(bounds[k + 1])]) for k in range(n)]


def store_dirs(root: Path) -> list[Path]:
    """``root`` itself when it is a store, else its sub-directories that are (one per benchmark)."""
    if (root / RUN_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.glob(f"*/{RUN_FILE}"))
    if not found:
        raise DataError(f"{root}: no token store (no {RUN_FILE} in it or in its sub-directories)")
    return found
