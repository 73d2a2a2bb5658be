"""``endorm-score``: endogenous rewards of a JSONL file of {prompt, response[, system]} rows.

Writes one JSON line per input row: the row's own fields (``id`` and any others kept), the reward R,
the number of scored tokens, the reward configuration and ``scorer``, what scored the row (the model as
named, its resolved path, hub revision and a fingerprint of its files; the prompt format, dtype and
device); ``--per_token`` adds the token strings and their rewards r_t (input to ``endorm-tokens``);
``--per_sentence`` adds the response's sentence units, each with its text, character span, token span
and reward R_k (docs/definitions.md#sentence-reward).
Rows are written and flushed as they are scored, so an interrupted run keeps its work and ``--resume``
continues it. A resume must find the input rows unchanged and the same reward options, model, prompt
format and dtype (each difference is named); only the device may change, which moves a reward by
rounding alone. While a run writes an -o file it holds the file's lock: a second endorm-score on the
same file is refused at once (the lock ends with the process, even a killed one).

Exit codes: 0 = all rows scored; 2 = bad option (alpha out of range, a dtype that is not a floating-point
type, a device that is not one or that this machine lacks, output = input, an existing output without
--resume/--overwrite, an output another endorm-score is writing, a resume that does not match); 4 =
unreadable or invalid input (file, row and field named), or an output that cannot be written; 5 = the
model cannot be loaded or cannot score a row (row named); 130 = interrupted.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from endorm_tasks.cli.errors import UsageError, run_cli
from endorm_tasks.data_sources import DataError, jsonl_text, read_jsonl, require_fields
from endorm_tasks.prompts.contexts import Context, Renderer, render_context
from endorm_tasks.prompts.formatting import PROMPT_FORMATS, SENTINEL, FormatError
from endorm_tasks.reward.config import RewardConfig, StatsSettings, SweepSettings, add_arguments, from_arguments

if TYPE_CHECKING:
    from endorm_tasks.reward.scorer import EndoScorer

OUTPUT_FIELDS: tuple[str, ...] = ("reward", "n_tokens", "config", "scorer", "tokens", "token_rewards", "sentences")
"""Fields endorm-score adds to each row; an input row must not already hold them."""
RESUMED_SETTINGS: tuple[str, ...] = ("model_fingerprint", "prompt_format", "dtype")
"""The ``scorer`` entries a resume must match. Not the device: it changes a reward only by rounding,
so an interrupted run may continue on another machine. Not the model's name or path: the fingerprint
says whether it is the same model, wherever it lies and however it is named."""
MODEL_FILE_SUFFIXES: tuple[str, ...] = (".json", ".safetensors", ".bin", ".model", ".txt", ".jinja", ".tiktoken", ".py")
"""Files of a model directory that loading reads (weights, config, tokenizer, chat template, model code);
not optimizer or RNG states (``.pt``, ``.pth``) beside a checkpoint, nor its README."""
CHUNK_ROWS = 16
"""Most consecutive rows with the same context scored together (they share its forward pass)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="JSONL file, one {prompt, response[, system]} object per line")
    p.add_argument("-o", "--output", type=Path, help="output JSONL (default: stdout); never the input")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted -o file: its rows must match the input rows and these settings")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    p.add_argument("--model", default="bundled", help="hub id, local path, or 'bundled' (SmolLM2-135M-Instruct)")
    p.add_argument("--prompt_format", choices=PROMPT_FORMATS, default="chat")
    add_arguments(p, SweepSettings, StatsSettings)
    p.add_argument("--per_token", action="store_true", help="also write tokens and per-token rewards")
    p.add_argument("--per_sentence", action="store_true",
                   help="also write the sentence units: text, chars and tokens ([start, end)), reward R_k")
    p.add_argument("--dtype", default="float32", help="model weights dtype (float32 on CPU; bfloat16 on GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when available)")
    p.add_argument("--trust_remote_code", action="store_true", help="allow model code from the hub (off by default)")
    return p


def read_rows(path: Path) -> list[dict]:
    rows = read_jsonl(path)
    if not rows:
        raise DataError(f"{path}: no rows to score")
    for line_no, row in enumerate(rows, start=1):
        where = f"{path} row {line_no}"
        require_fields(row, {"prompt": str, "response": str}, where)
        if row.get("system") is not None and not isinstance(row["system"], str):
            raise DataError(f"{where}: field 'system' should be str")
        try:
            json.dumps(row, allow_nan=False)
        except ValueError:
            raise DataError(f"{where}: holds NaN or Infinity, which is not JSON (the row is copied into the output)") from None
        for name, value in row.items():
            try:  # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 file can hold
                json.dumps({name: value}, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise DataError(f"{where}: field {name!a} holds a lone surrogate (e.g. \\ud800), which is not "
                                "Unicode text; the output could not be written as UTF-8") from None
        for name in ("prompt", "system"):
            if SENTINEL in (row.get(name) or ""):
                raise DataError(f"{where}: field {name!r} contains {SENTINEL!a}, the marker endorm puts where a "
                                "response starts when it builds a context; remove it")
        taken = [name for name in OUTPUT_FIELDS if name in row]
        if taken:
            raise DataError(f"{where}: field {taken[0]!r} is one endorm-score writes ({', '.join(OUTPUT_FIELDS)}); rename it")
    return rows


def check_output(args: argparse.Namespace) -> None:
    """Refuse an output that is the input, a directory, or (with --resume) not a regular file."""
    if args.output is None:
        if args.resume:
            raise UsageError("--resume continues an -o file; give -o")
        return
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    out, source = args.output.resolve(), args.input.resolve()
    if out == source or (out.exists() and source.exists() and os.path.samefile(out, source)):
        raise UsageError(f"-o {args.output} is the input file; write the scores to another file")
    if out.is_dir():
        raise UsageError(f"-o {args.output} is a directory; give a file name")
    if args.resume and out.exists() and not out.is_file():
        raise UsageError(f"--resume continues a file of scored rows; {args.output} is not a regular file")


def scoring_device(name: str | None) -> str:
    """The device to score on: ``name`` when this machine has it; by default cuda when available, else cpu."""
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a device; expected cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            have = f"cuda:0 to cuda:{count - 1}" if count else "none"
            raise UsageError(f"--device {name}: this machine has no such CUDA device (it has {have}); give another --device")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {name}: MPS is not available on this machine; give another --device")
    elif device.type != "cpu":
        raise UsageError(f"--device {name!r}: endorm-score runs on cpu, cuda, cuda:N or mps")
    return str(device)


class OutputFile:
    """The -o file under an exclusive ``flock`` while this run writes it: a second endorm-score on the same
    file is refused rather than interleaving its rows, and the kernel drops the lock of a process that
    dies, so ``--resume`` continues a killed run. Opened without truncating; an existing file is cut to
    ``keep`` bytes only when the first row is written, so a run that fails before scoring anything leaves
    the file as it was, and one that created it removes it (docs/definitions.md#score-resume)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keep = 0
        """Bytes of the file kept before the first row this run writes (0: replace it)."""
        self.started = False
        self.created = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = self._open_locked()
        except OSError as err:
            raise self.error(err) from err

    def _open_locked(self) -> int:
        while True:
            try:
                fd, self.created = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), True
            except FileExistsError:
                try:
                    fd, self.created = os.open(self.path, os.O_RDWR), False
                except FileNotFoundError:
                    continue  # removed in between
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UsageError(f"{self.path} is being written by another endorm-score, which holds its lock; let it "
                                 "finish (then --resume if it stopped early) or give another -o") from None
            if self._is_at_path(fd):
                return fd
            os.close(fd)  # removed or replaced before the lock was taken: lock the file that is there now

    def _is_at_path(self, fd: int) -> bool:
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def error(self, err: OSError) -> DataError:
        return DataError(f"cannot write {self.path}: {err.strerror or err}")

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def write(self, text: str) -> None:
        """Append ``text`` unbuffered, so a killed run loses no row it wrote (a full disk or a device error is a DataError)."""
        data = memoryview(text.encode("utf-8"))
        try:
            if not self.started:
                if stat.S_ISREG(os.fstat(self.fd).st_mode):  # devices (/dev/full) and pipes have no length
                    os.ftruncate(self.fd, self.keep)
                    os.lseek(self.fd, self.keep, os.SEEK_SET)
                self.started = True
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as err:
            raise self.error(err) from err

    def close(self) -> None:
        """Release the lock; a file this run created and never wrote to is removed first."""
        try:
            if self.created and self.size == 0 and self._is_at_path(self.fd):
                self.path.unlink()
        finally:
            os.close(self.fd)

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def resumed_rows(output: OutputFile, rows: list[dict], source: Path, per_token: bool, per_sentence: bool = False) -> list[dict]:
    """The rows ``output`` already holds, checked against the input rows by position: each must carry
    exactly the input row's fields (none changed, dropped or added) and the same --per_token and
    --per_sentence. A last line cut short by a crash is dropped. Settings are checked by ``check_settings``
    once the model is known."""
    path = output.path
    data = path.read_bytes()
    output.keep = len(data)
    if data and not data.endswith(b"\n"):
        output.keep = data.rfind(b"\n") + 1
        row = data[:output.keep].count(b"\n") + 1
        print(f"endorm-score: {path}: dropping an incomplete last line (row {row})", file=sys.stderr)
        os.ftruncate(output.fd, output.keep)
    done = read_jsonl(path)
    if len(done) > len(rows):
        raise UsageError(f"--resume: {path} has {len(done)} rows but {source} only {len(rows)}; "
                         "it is not an output of this input")
    for number, (old, row) in enumerate(zip(done, rows), start=1):
        kept = {name: value for name, value in old.items() if name not in OUTPUT_FIELDS}
        changes = [f"{name!r} changed" for name in row if name in kept and kept[name] != row[name]]
        changes += [f"{name!r} is not in the scored row" for name in row if name not in kept]
        changes += [f"{name!r} is no longer in the input" for name in kept if name not in row]
        if changes:
            raise UsageError(f"--resume: {path} row {number} does not match {source} row {number} (field "
                             f"{'; field '.join(changes)}); it is not an output of this input (use --overwrite)")
        for field, flag, given in (("token_rewards", "--per_token", per_token), ("sentences", "--per_sentence", per_sentence)):
            if (field in old) != given:
                written = "with" if field in old else "without"
                raise UsageError(f"--resume: {path} row {number} was written {written} {flag}; give the same flag")
    return done


def setting_text(settings: dict, name: str) -> str:
    """One setting as a resume error names it; the model by name, path and fingerprint."""
    if name == "model_fingerprint":
        revision = f"@{settings['model_revision']}" if settings.get("model_revision") else ""
        return (f"model={settings.get('model')} ({settings.get('model_path')}{revision}, "
                f"fingerprint {settings.get('model_fingerprint')})")
    return f"{name}={settings.get(name)}"


def check_settings(done: list[dict], path: Path, config: RewardConfig, scorer: dict) -> None:
    """Refuse to resume rows scored under other reward options, another model, prompt format or dtype,
    naming every difference (docs/definitions.md#score-resume)."""
    now = {**config.as_dict(), **scorer}
    for number, old in enumerate(done, start=1):
        was_config, was_scorer = old.get("config"), old.get("scorer")
        was = {**(was_config if isinstance(was_config, dict) else {}), **(was_scorer if isinstance(was_scorer, dict) else {})}
        differ = [name for name in config.as_dict() if was.get(name) != now[name]]
        if isinstance(was_scorer, dict):
            differ += [name for name in RESUMED_SETTINGS if was.get(name) != now[name]]
        if differ:
            raise UsageError(f"--resume: {path} row {number} was scored with "
                             f"{', '.join(setting_text(was, k) for k in differ)}, now "
                             f"{', '.join(setting_text(now, k) for k in differ)}; give the same options or use --overwrite")
        if not isinstance(was_scorer, dict):
            raise UsageError(f"--resume: {path} row {number} does not record its model, prompt format and dtype "
                             "(an older endorm-score wrote it); score the file again with --overwrite")


def model_fingerprint(directory: Path) -> str:
    """sha256 (first 16 hex digits) of the names, sizes and contents of the files loading reads
    (``MODEL_FILE_SUFFIXES``): equal only for byte-identical weights, config and tokenizer."""
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.iterdir() if p.suffix in MODEL_FILE_SUFFIXES and p.is_file()):
        digest.update(f"{file.name}\0{file.stat().st_size}\0".encode())
        with file.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:16]


def model_source(location: str, revision: str | None) -> tuple[Path | None, str | None]:
    """The local directory a model was loaded from and its hub revision: a local directory itself (no
    revision), or for a hub id its snapshot in the hub cache, named by the commit."""
    local = Path(location).expanduser()
    if local.is_dir():
        return local.resolve(), None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(location, "config.json", revision=revision)
    if not isinstance(found, str):
        return None, revision
    return Path(found).parent, Path(found).parent.name


def scorer_record(args: argparse.Namespace, model, device: str) -> dict:
    """What scores the rows, written on each: the model as named, where it was loaded from, its hub
    revision (None for a local directory) and fingerprint; the prompt format, dtype and device."""
    from endorm_tasks.bundled import resolve_model_path

    location = resolve_model_path(args.model)
    directory, revision = model_source(location, getattr(model.config, "_commit_hash", None))
    return {
        "model": args.model,
        "model_path": str(directory or location),
        "model_revision": revision,
        "model_fingerprint": model_fingerprint(directory) if directory else f"hub:{location}@{revision}",
        "prompt_format": args.prompt_format,
        "dtype": str(model.dtype).removeprefix("torch."),
        "device": device,
    }


def chunks(rows: list[dict], start: int, limit: int = CHUNK_ROWS) -> Iterator[range]:
    """Runs of consecutive rows from ``start`` with the same system and prompt, at most ``limit`` long."""
    begin = start
    for i in range(start + 1, len(rows) + 1):
        if i == len(rows) or i - begin == limit or (rows[i]["prompt"], rows[i].get("system")) != (
            rows[begin]["prompt"], rows[begin].get("system")
        ):
            yield range(begin, i)
            begin = i


def output_row(row: dict, scored, tokenizer, per_token: bool, where: str, scorer: dict, per_sentence: bool = False) -> dict:
    """The input row with its reward and what scored it; a non-finite reward is an error, never written."""
    rewards = [float(r) for r in scored.token_rewards]
    if not math.isfinite(scored.reward) or not all(map(math.isfinite, rewards)):
        from endorm_tasks.reward.scorer import ScoringError

        raise ScoringError(f"{where}: the reward is not finite (R = {scored.reward}) under {scored.config.as_dict()}")
    out = {**row, "reward": scored.reward, "n_tokens": len(scored.token_ids), "config": scored.config.as_dict(),
           "scorer": scorer}
    if per_token:
        out["tokens"] = [tokenizer.decode([t]) for t in scored.token_ids]
        out["token_rewards"] = rewards
    if per_sentence:
        from endorm_tasks.reward.sentences import scored_sentences

        out["sentences"] = [unit.as_dict() for unit in scored_sentences(scored)]
    return out


@dataclass
class Progress:
    """What has been written, for the message after an interruption or an error."""

    done: int = 0
    total: int = 0
    where: str = "stdout"

    def interrupted(self) -> str:
        if self.where == "stdout":
            return f"interrupted after {self.done} of {self.total} rows"
        return (f"interrupted: {self.done} of {self.total} rows are in {self.where}; "
                "rerun with --resume to score the rest")


def row_context(renderer: Renderer, row: dict, prompt_format: str) -> Context:
    """The context a row's response is scored after: its prompt and optional system instruction."""
    return render_context(renderer, row["prompt"], row.get("system"), prompt_format)


@dataclass
class Scoring:
    """A loaded model ready to score rows, and the record of it each row carries."""

    scorer: EndoScorer
    tokenizer: object
    renderer: Renderer
    record: dict


def load_scoring(args: argparse.Namespace, config: RewardConfig, device: str) -> Scoring:
    from endorm_tasks.bundled import load_model_and_tokenizer
    from endorm_tasks.reward.scorer import EndoScorer

    model, tokenizer = load_model_and_tokenizer(args.model, args.dtype, args.trust_remote_code)
    record = scorer_record(args, model, device)
    return Scoring(EndoScorer(model.to(device), tokenizer, config), tokenizer, Renderer.from_tokenizer(tokenizer), record)


def write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def score_file(args: argparse.Namespace, progress: Progress) -> None:
    config = RewardConfig(sweep=from_arguments(args, SweepSettings), stats=from_arguments(args, StatsSettings))
    check_output(args)
    device = scoring_device(args.device)
    rows = read_rows(args.input)
    progress.total = len(rows)
    if args.output is None:
        write_scores(args, load_scoring(args, config, device), rows, 0, write_stdout, progress)
        return
    with OutputFile(args.output) as output:
        if output.size > 0 and not (args.resume or args.overwrite):
            raise UsageError(f"{args.output} exists; pass --resume to continue it or --overwrite to replace it")
        done = resumed_rows(output, rows, args.input, args.per_token, args.per_sentence) if args.resume else []
        progress.done, progress.where = len(done), str(args.output)
        scoring = load_scoring(args, config, device)
        check_settings(done, args.output, config, scoring.record)
        if len(done) == len(rows):
            print(f"endorm-score: {args.output} already holds all {len(rows)} rows", file=sys.stderr)
            return
        write_scores(args, scoring, rows, len(done), output.write, progress)
    print(f"endorm-score: {len(rows)} rows in {args.output}", file=sys.stderr)


def write_scores(args: argparse.Namespace, scoring: Scoring, rows: list[dict], start: int, write: Callable[[str], None],
                 progress: Progress) -> None:
    """Score rows ``start..`` chunk by chunk, writing each chunk's rows as soon as it is done."""
    from tqdm.auto import tqdm

    with tqdm(total=len(rows), initial=start, desc="endorm scoring", unit="row") as bar:
        for chunk in chunks(rows, start):
            names = [f"{args.input} row {i + 1}" for i in chunk]
            try:
                contexts = []
                for i, name in zip(chunk, names):
                    try:
                        contexts.append(row_context(scoring.renderer, rows[i], args.prompt_format))
                    except FormatError as err:
                        raise FormatError(f"{name}: {err}") from err
                scored = scoring.scorer.score(contexts, [rows[i]["response"] for i in chunk], names=names,
                                              units=args.per_sentence)
                text = jsonl_text((output_row(rows[i], s, scoring.tokenizer, args.per_token, name, scoring.record,
                                              args.per_sentence)
                                   for i, s, name in zip(chunk, scored, names)), allow_nan=False)
            except ValueError as err:  # a row that cannot be scored: the rows before it stay written
                if progress.done and progress.where != "stdout":
                    err.args = (f"{err} ({progress.done} rows before it are in {progress.where}; fix the row, "
                                "then --resume continues)",)
                raise
            write(text)
            progress.done += len(chunk)
            bar.update(len(chunk))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    progress = Progress()
    run_cli("endorm-score", lambda: score_file(args, progress), interrupted=progress.interrupted)


if __name__ == "__main__":
    main()
