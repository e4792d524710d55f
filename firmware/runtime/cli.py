"""The `intercom` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from firmware import __version__
from firmware.runtime import config, logs
from firmware.runtime.media import BUILD
from hal import HalError


def _check_config(args: argparse.Namespace) -> int:
    if args.keys:
        for name, default, help_text in config.describe_keys():
            print(f"| `{name}` | `{default}` | {help_text} |")
        return 0
    if not args.file:
        print("check-config: give a FILE (or --keys)", file=sys.stderr)
        return 2
    try:
        cfg = config.load(args.file)
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.file}: ok (board {cfg.board}, {cfg['sip']['transport']} on {cfg['sip']['listen']})"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    logs.setup(cfg["log"]["level"])
    from firmware.runtime import app

    try:
        return asyncio.run(app.run(cfg))
    except (HalError, OSError) as exc:
        logging.getLogger("intercom").error("cannot start: %s", exc)
        return 1


def _emulate(args: argparse.Namespace) -> int:
    cfg = None
    if args.config:
        try:
            cfg = config.load(args.config)
        except config.ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    logs.setup(cfg["log"]["level"] if cfg else "info")
    from firmware.runtime import emulator

    try:
        return asyncio.run(emulator.run(cfg, args.port, args.audio, not args.no_browser))
    except KeyboardInterrupt:
        return 0


def _relay_off(args: argparse.Namespace) -> int:
    from firmware.runtime import relay_off

    return relay_off.command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intercom", description="SIP door-intercom firmware")
    parser.add_argument(
        "--version",
        action="version",
        version=f"intercom {__version__} ({BUILD})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("file", nargs="?", metavar="FILE")
    check.add_argument(
        "--keys", action="store_true", help="print every key as a Markdown table row"
    )
    check.set_defaults(handler=_check_config)
    run = commands.add_parser("run", help="run the firmware")
    run.add_argument("--config", required=True, metavar="FILE", help="configuration file (TOML)")
    run.set_defaults(handler=_run)
    emulate = commands.add_parser(
        "emulate", help="run the firmware on a simulated board with a web panel and a flat phone"
    )
    emulate.add_argument("--config", metavar="FILE", help="use this SIP account and targets")
    emulate.add_argument("--port", type=int, default=8080, help="web panel port (default 8080)")
    emulate.add_argument(
        "--audio",
        choices=("auto", "alsa", "sim"),
        default="auto",
        help="door audio: the laptop's ALSA devices, simulated, or alsa when it works (default)",
    )
    emulate.add_argument("--no-browser", action="store_true", help="do not open a browser")
    emulate.set_defaults(handler=_emulate)
    relay_off = commands.add_parser(
        "relay-off", help="force the door relay off (the systemd unit's stop step); no other pin"
    )
    relay_off.add_argument("--config", required=True, metavar="FILE", help="configuration file")
    relay_off.set_defaults(handler=_relay_off)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    result: int = args.handler(args)
    return result
