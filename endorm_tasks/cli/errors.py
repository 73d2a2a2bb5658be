"""The one place that turns errors into exit codes, for every ``endorm-*`` command: ``run_cli`` and ``fail``.

Errors the project raises on purpose reach the user as one line, ``<prog>: error: <message>``, with
the exit code of their class; anything else is a bug and keeps Python's traceback (exit 1). The codes
and the general error classes are ``endorm_tasks.errors``'s (where every layer may import them); they
are imported here for the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from endorm_tasks.errors import (  # noqa: F401 - the codes and UsageError, for the commands
    EXIT_DATA,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_MISSING,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
)

T = TypeVar("T")


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
    ("endorm_tasks.errors", "UsageError", EXIT_USAGE),
    ("endorm_tasks.errors", "ConfigError", EXIT_USAGE),
    ("endorm_tasks.data_sources", "DataError", EXIT_DATA),
    ("endorm_tasks.prompts.formatting", "FormatError", EXIT_USAGE),
    ("endorm_tasks.judges.scoring", "JudgeError", EXIT_USAGE),
    ("endorm_tasks.errors", "ModelError", EXIT_MODEL),
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
