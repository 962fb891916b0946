"""What every `mlgw` command shares: the error it prints, argument types, and the
--home/--port → localcloud lookup."""
from __future__ import annotations

import argparse

from localcloud.config import Config


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_pairs(pairs: list[str], flag: str = "--param") -> dict[str, str]:
    """`NAME=VALUE` flags (--param, --tag) as a dict."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"{flag} takes NAME=VALUE, got {pair!r}")
        params[name] = value
    return params


def with_home(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--home", help="localcloud state directory (default: $MLGW_HOME or ./.mlgw)")
    p.add_argument("--port", type=int, help="localcloud port (default: $MLGW_PORT or 4777)")
    return p


def config_from(args: argparse.Namespace) -> Config:
    return Config.from_flags(getattr(args, "home", None), getattr(args, "port", None))


def running(config: Config) -> Config:
    """`config` of the localcloud already serving it; CliError when none is."""
    from localcloud import daemon
    try:
        return daemon.require_running(config)
    except daemon.DaemonError as exc:
        raise CliError(str(exc)) from None
