"""The preference benchmarks: the preference core (``preference``: items, pairs, the one pair decision),
the ``Benchmark`` object and its registry (``base``), and one module per benchmark (``rmbench``, ``dsp``,
``multifaceted``) with its data, items, per-document metrics, sweep layout and report section, ending in
the ``register`` call that puts it in ``REGISTRY``. Scorer-agnostic: EndoRM, judges and the sweep all
feed wins here. Importing this package registers every benchmark module listed below."""

# Registration order is the order of the leaderboard sections and of a sweep file's benchmarks.
from endorm_tasks.benchmarks import rmbench, dsp, multifaceted  # noqa: F401  # isort: skip
from endorm_tasks.benchmarks.base import REGISTRY, Benchmark, get

__all__ = ["REGISTRY", "Benchmark", "get"]
