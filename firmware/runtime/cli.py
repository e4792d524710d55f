"""The `intercom` command line."""

from __future__ import annotations

import argparse

from firmware import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intercom", description="SIP door-intercom firmware")
    parser.add_argument("--version", action="version", version=f"intercom {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0
