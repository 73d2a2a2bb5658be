"""The exit codes of every ``endorm-*`` command and the error classes that are no one module's own.

Every layer may import this module (it imports nothing): a library function raises the class, and the
command's ``run_cli`` (``endorm_tasks.cli.errors``) turns it into one line, ``<prog>: error: <message>``,
and its exit code. Errors of one concept stay with it: ``DataError`` (``data_sources``), ``FormatError``
(``prompts.formatting``), ``JudgeError`` (``judges.scoring``), ``ScoringError`` (``reward.scorer``).

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

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_DATA = 4
EXIT_MODEL = 5
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """The command line asks for something the command refuses (output = input, option out of range)."""


class ConfigError(ValueError):
    """An option value or combination that is not accepted: reward options, model arguments, a run's
    configuration (unknown key, wrong type or value; the message names the file and the key)."""


class ModelError(OSError):
    """A model cannot be fetched, converted or loaded."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model path that does not exist, or a name that is neither a local model folder nor a reachable hub id."""
