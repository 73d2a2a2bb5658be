"""``endorm-eval``: ``lm_eval`` with the ``endorm`` model registered and the project's tasks included.

lm-eval has no entry-point discovery for plugin models (SPEC §9), so this imports the plugin (which
also imports lm-eval's HF model, keeping ``hf`` registered) and puts the installed ``task_configs``
on every TaskManager's include path, before any ``--include_path`` the user gives (theirs win on
name clashes). Every ``lm_eval`` subcommand and flag works unchanged.
"""

from __future__ import annotations

from functools import wraps
from importlib import resources
from pathlib import Path

import endorm_tasks.lm_model  # noqa: F401  (registers the `endorm` model)


def task_configs_dir() -> Path:
    """The installed ``task_configs`` folder (inside the distribution, so wheels find it too)."""
    return Path(str(resources.files("endorm_tasks.task_configs")))


def include_project_tasks() -> None:
    """Make every ``TaskManager`` index the project's tasks as well as the user's include paths."""
    from lm_eval.tasks.manager import TaskManager

    original = TaskManager.__init__
    if getattr(original, "_endorm_patched", False):
        return

    @wraps(original)
    def init(self, verbosity=None, include_path=None, *args, **kwargs):
        user = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
        original(self, verbosity, [str(task_configs_dir()), *user], *args, **kwargs)

    init._endorm_patched = True  # type: ignore[attr-defined]
    TaskManager.__init__ = init


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    include_project_tasks()
    cli_evaluate()


if __name__ == "__main__":
    main()
