"""What every `mlgw` command shares: its parser class and error line (`mlgw: error: ...`),
argument types, the flags with one name per concept (--home, --port for localcloud,
--endpoint), and the --home/--port → localcloud lookup."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from localcloud.config import Config

PREFIX = "mlgw: error:"
STATE_DIR_HELP = (
    "state directory (default: $MLGW_HOME, else the nearest .mlgw in this directory or a parent, else ~/.mlgw)"
)


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def print_error(message: str) -> None:
    """The one way a command reports an error: `mlgw: error: <message>` on stderr."""
    print(f"{PREFIX} {message}", file=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the CLI's one error prefix: `mlgw: error: run: argument --policies: ...`
    instead of `mlgw run: error: ...` (sub-parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        # One line, as every other error: what is wrong and where the flags are explained.
        where = self.prog.removeprefix("mlgw").strip()
        print_error(
            f"{where}: {message} (`{self.prog} --help` lists the flags)"
            if where
            else f"{message} (`mlgw --help` lists the commands)"
        )
        sys.exit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed_number(text: str) -> int:
    """A random seed: a whole number 0 to 2**32 - 1 (what NumPy's generators accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is 0 to {2**32 - 1}, got {value}")
    return value


def bounded_int(low: int, high: int, reason: str):
    """An argparse type: a whole number from `low` to `high`; the error says why the bound is
    there (`reason`), so a value past it fails here, not as an OverflowError later."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:,} to {high:,} ({reason}), got {value:,}")
        return value

    return parse


def parameter_int(name: str, reason: str):
    """An argparse type for a flag that sets the pipeline parameter `name`: the flag and the
    parameter share one bound (pipelines/ml_gateway/parameters.py BOUNDS)."""
    from pipelines.ml_gateway.parameters import BOUNDS

    low, high, exclusive = BOUNDS[name]
    assert low is not None and high is not None and not exclusive, name
    return bounded_int(int(low), int(high), f"{reason}, as the pipeline parameter {name}")


# The drift check's window: Model Monitor's, at most 24 hours
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScheduleConfig.html,
# DataAnalysisStartTime: "must not precede the end time ... by more than 24 hours").
window_minutes = parameter_int("DriftCheckWindowMinutes", "Model Monitor's window is at most 24 hours")


def bounded_float(high: float, reason: str):
    """An argparse type: a finite number > 0 and at most `high` (`reason` says why)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value <= high:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"must be a number > 0 and at most {high:,.0f} ({reason}), got {text}")
        return value

    return parse


# Sizes checked against memory before anything is allocated: the design budget of a run is
# 1,000,000 policies in 4 GiB (README, `mlgw bench pipeline`), so a policy may cost 4 KiB
# (measured: 100,000 policies peak at 945 MiB for the whole run, 1,000,000 generated in
# 0.9 GiB); a count whose budget is more than the memory available now would end in a
# MemoryError (or the OOM killer) after minutes of work.
BYTES_PER_POLICY = 4 * 2**30 // 1_000_000


def memory_available() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def sized_count(what: str, bytes_each: int = BYTES_PER_POLICY):
    """An argparse type: a count of `what` (policies, records) at least 1 whose memory budget
    (`bytes_each` a piece) fits in the memory available now."""

    def parse(text: str) -> int:
        value = positive_int(text)
        need, available = value * bytes_each, memory_available()
        if need > available:
            raise argparse.ArgumentTypeError(
                f"{value:,} {what} need about {_size(need)} of memory ({_size(bytes_each)} each, the "
                f"design budget of 1,000,000 in 4 GiB); {_size(available)} is available now, "
                f"enough for {available // bytes_each:,}"
            )
        return value

    return parse


policy_count = sized_count("policies")


def port_number(text: str) -> int:
    """A TCP port, 1-65535."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
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


def check_input_file(flag: str, path: str) -> None:
    """CliError naming the flag unless `path` is a file this user can read."""
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{flag} {path} is a directory; give the file itself")
    if not target.is_file():
        raise CliError(f"{flag} {path}: no such file")
    if not os.access(target, os.R_OK):
        raise CliError(f"{flag} {path}: not readable (permission denied)")


def with_home(p: argparse.ArgumentParser, port: bool = True) -> argparse.ArgumentParser:
    """--home (the state directory) and --port (localcloud's port) on a command that uses
    localcloud. Unset flags stay out of the namespace (SUPPRESS), so a group-level --home
    (`mlgw gateway --home X start`) is not overwritten by the action's."""
    p.add_argument("--home", default=argparse.SUPPRESS, metavar="DIR", help=STATE_DIR_HELP)
    if port:
        p.add_argument(
            "--port",
            type=port_number,
            default=argparse.SUPPRESS,
            help="localcloud's port (default: $MLGW_PORT or 4777)",
        )
    return p


def with_endpoint(
    p: argparse.ArgumentParser, default: str | None, help: str, aliases: tuple[str, ...] = ("--endpoint-name",)
) -> argparse.ArgumentParser:
    """--endpoint, the one name of the SageMaker endpoint flag; earlier spellings are accepted
    but hidden from --help."""
    p.add_argument("--endpoint", default=default, metavar="NAME", help=help)
    for alias in aliases:
        p.add_argument(alias, dest="endpoint", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def config_from(args: argparse.Namespace) -> Config:
    return Config.from_flags(getattr(args, "home", None), getattr(args, "port", None))


def running(config: Config) -> Config:
    """`config` of the localcloud already serving it; CliError when none is."""
    from localcloud import daemon

    try:
        return daemon.require_running(config)
    except daemon.DaemonError as exc:
        if not config.state_db.exists():  # localcloud never ran here: nothing to start
            raise CliError(fresh_state_hint(config)) from None
        raise CliError(str(exc)) from None


def require_endpoint(sm, endpoint: str, config: Config) -> None:
    """CliError saying to run `mlgw run` first unless `endpoint` exists (DescribeEndpoint)."""
    from botocore.exceptions import ClientError

    try:
        sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:  # ValidationException "Could not find endpoint", as on AWS
        if "Could not find endpoint" not in exc.response.get("Error", {}).get("Message", ""):
            raise
        names = [e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]]
        if names:
            raise CliError(
                f"endpoint {endpoint} does not exist on this state directory "
                f"({config.home}); it has {', '.join(sorted(names))} "
                "(choose with --endpoint)"
            ) from None
        raise CliError(
            f"endpoint {endpoint} does not exist on this state directory ({config.home}); run `mlgw run` first"
        ) from None


def fresh_state_hint(config: Config) -> str:
    return (
        f"nothing has run on the state directory {config.home} yet; run `mlgw run` first "
        "(or pass the --home of an earlier run)"
    )
