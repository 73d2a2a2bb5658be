"""Exit codes shared by every ``endorm-*`` command, and the one place that turns errors into them.

Errors the project raises on purpose reach the user as one line, ``<prog>: error: <message>``, with
the exit code of their class; anything else is a bug and keeps Python's traceback (exit 1).

Exit codes:

- 0: success.
- 1: ``endorm-regress``: a metric regressed or is NaN; elsewhere an unexpected error (a bug, with its
  traceback), or, in one line naming the extra, an optional dependency the command needs is not
  installed (``endorm-rl`` without TRL: the command line is right, the install is not).
- 2: bad command line: unknown flag, option value out of range, unknown ``--model_args`` key, a
  prompt format the model or task cannot use (no chat template, ``--apply_chat_template`` missing),
  a ``--device`` this machine does not have.
- 3: ``endorm-regress``: no regression, but baseline metrics are missing from the candidate.
- 4: a data or results file is missing, unreadable, not UTF-8, not JSON, lacks a field or holds a
  malformed one (a key twice, a metric that is not a number); ``endorm-regress``: two runs scored on
  other items; an output file that cannot be written (a full disk, a read-only file).
- 5: the model cannot be fetched or loaded, or cannot score an item (longer than its context).
- 130: interrupted (Ctrl-C); ``endorm-score`` keeps the rows already written (``--resume``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_DATA = 4
EXIT_MODEL = 5
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """The command line asks for something the command refuses (output = input, option out of range)."""


class CLIExit(SystemExit):
    """Exit with ``code`` after printing ``<prog>: error: <message>`` to stderr; ``str()`` is that line."""

    def __init__(self, prog: str, message: str, code: int) -> None:
        super().__init__(code)
        self.line = f"{prog}: error: {message}"

    def __str__(self) -> str:
        return self.line


def fail(prog: str, message: str, code: int) -> NoReturn:
    """Print the one-line error and exit with ``code``."""
    error = CLIExit(prog, message, code)
    print(error.line, file=sys.stderr, flush=True)
    raise error


# (module, class, exit code), most specific first. Classes are looked up only in modules already
# imported: an error cannot be an instance of a class whose module was never loaded, and classifying
# an error must not import torch.
ERRORS: tuple[tuple[str, str, int], ...] = (
    (__name__, "UsageError", EXIT_USAGE),
    ("endorm_tasks.reward.config", "ConfigError", EXIT_USAGE),
    ("endorm_tasks.data_sources", "DataError", EXIT_DATA),
    ("endorm_tasks.prompts.formatting", "FormatError", EXIT_USAGE),
    ("endorm_tasks.judges.scoring", "JudgeError", EXIT_USAGE),
    ("endorm_tasks.bundled", "ModelError", EXIT_MODEL),
    ("endorm_tasks.reward.scorer", "ScoringError", EXIT_MODEL),
)


def exit_code_of(err: BaseException) -> int | None:
    """The documented exit code of a deliberate error, None for anything else."""
    for module, name, code in ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(err, cls):
            return code
    return None


def run_cli(
    prog: str,
    body: Callable[[], T],
    interrupted: Callable[[], str] | None = None,
    usage_errors: tuple[type[Exception], ...] = (),
) -> T:
    """``body()``; deliberate errors and Ctrl-C become one line on stderr and their exit code.

    ``interrupted`` returns the line to print on Ctrl-C (e.g. how much was saved); ``usage_errors``
    are further classes the command raises only for bad option values (exit 2).
    """
    try:
        return body()
    except KeyboardInterrupt:
        fail(prog, interrupted() if interrupted else "interrupted", EXIT_INTERRUPTED)
    except Exception as err:  # noqa: BLE001 - re-raised unless it is one of the project's own errors
        code = exit_code_of(err)
        if code is None and isinstance(err, usage_errors):
            code = EXIT_USAGE
        if code is None:
            raise
        fail(prog, str(err), code)
