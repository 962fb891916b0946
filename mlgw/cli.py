"""`mlgw`: run the ML Gateway workflow locally (the default) or on AWS.

One module per command group under `mlgw/commands/`, each with `register(subparsers)`. Heavy
modules (the SageMaker SDK, pandas, xgboost) are imported inside the commands that use them so
`mlgw --help` and the small commands stay instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from importlib import metadata

from botocore.exceptions import BotoCoreError, ClientError

from mlgw.args import ArgumentParser, CliError, parse_pairs, positive_int, print_error  # noqa: F401  (re-exported)
from mlgw.commands import (
    bench,
    build,
    config,
    data,
    demo,
    endpoint,
    events,
    featurestore,
    gateway,
    localcloud,
    mlflow,
    models,
    monitor,
    pipeline,
    run,
    schema,
    segments,
    stack,
    stop,
    studio,
    traffic,
)

COMMANDS = (
    localcloud,
    data,
    run,
    config,
    pipeline,
    featurestore,
    models,
    demo,
    traffic,
    endpoint,
    bench,
    gateway,
    segments,
    events,
    monitor,
    schema,
    studio,
    mlflow,
    build,
    stack,
    stop,
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mlgw",
        description="ML Gateway on SageMaker: build, deploy and serve a fraud model. "
        "Runs locally by default against localcloud (no AWS account, no Docker).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def _version() -> str:
    try:
        return metadata.version("ml-gateway")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, inside the handler below
    except BrokenPipeError:
        # The reader went away (`mlgw pipeline executions | head -1`): stop quietly, with the
        # status of a Unix tool that SIGPIPE stopped (128 + 13): the command did not finish
        # (`mlgw run | head -1` starts nothing), so it is not a success. stdout goes to
        # /dev/null so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].split("=", 1)[0] in ("--home", "--port"):
        # Flags belong to the command that uses them (`mlgw pipeline executions --home DIR`);
        # argparse would report the flag's value as an unknown command.
        print_error(
            f"{argv[0].split('=', 1)[0]} goes after the command, e.g. "
            f"`mlgw pipeline executions {argv[0].split('=', 1)[0]} ...`"
        )
        return 2
    args = build_parser().parse_args(argv)
    # The SageMaker SDK turns on INFO logging for everything when imported; the CLI prints
    # its own progress, so library chatter stays at warnings.
    for name in ("botocore", "boto3", "sagemaker", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except CliError as exc:
        print_error(str(exc))
        return 2
    except BotoCoreError as exc:  # localcloud or AWS unreachable, bad parameters
        print_error(str(exc))
        return 1
    except ClientError as exc:  # the service refused: its code and message say why
        error = exc.response.get("Error", {})
        print_error(f"{error.get('Code')}: {error.get('Message')}")
        return 1
    except BrokenPipeError:  # the reader went away: main() ends quietly
        raise
    except OSError as exc:  # a path the system refuses (--home /proc/x, --out /proc/x)
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except RecursionError:  # a parser given input nested deeper than the stack (each file's own check names it)
        print_error("input nested too deeply to read")
        return 2
    except MemoryError:  # sizes are checked against memory before allocating; this is the net under them
        print_error("out of memory: try a smaller size or free memory")
        return 1


if __name__ == "__main__":
    sys.exit(main())
