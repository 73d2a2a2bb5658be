"""``endorm-fetch-model``: fetch and cache the bundled model, print its directory."""

from __future__ import annotations

import argparse

from endorm_tasks.bundled import bundled_model_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    print(bundled_model_path())


if __name__ == "__main__":
    main()
