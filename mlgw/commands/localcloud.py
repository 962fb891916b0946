"""`mlgw localcloud`: start, stop and inspect localcloud."""

from __future__ import annotations

import argparse

from localcloud.config import Config
from mlgw.args import CliError, config_from, running, with_home
from mlgw.commands.stack import add_apply_flags


def register(sub) -> None:
    lc = with_home(
        sub.add_parser(
            "localcloud",
            help="start/stop the embedded AWS stand-in",
            description="Manage localcloud, the embedded stand-in for S3, "
            "Feature Store, the model registry, hosting and "
            "Pipelines. `env` prints the variables that point "
            "boto3 at it.",
        )
    )
    lc.add_argument(
        "action",
        choices=["start", "stop", "status", "env", "apply"],
        help="start it (in the background), stop it, say whether it runs, print "
        "the variables that point boto3 at it, or apply the CloudFormation template "
        "(create or update the stack, starting localcloud if needed)",
    )
    add_apply_flags(lc)
    lc.add_argument(
        "--foreground",
        action="store_true",
        help="start: serve in this terminal until Ctrl-C instead of in the background",
    )
    lc.set_defaults(func=cmd_localcloud)


def cmd_localcloud(args: argparse.Namespace) -> int:
    from localcloud import daemon

    if args.foreground and args.action != "start":
        raise CliError(f"--foreground applies to `mlgw localcloud start`, not {args.action}")
    config = config_from(args)
    if args.action != "apply" and (args.template or args.stack_name or args.param):
        raise CliError(f"--template, --stack-name and --param apply to `mlgw localcloud apply`, not {args.action}")
    if args.action == "apply":
        from mlgw.commands.stack import apply

        try:
            config = daemon.start(config)
        except daemon.DaemonError as exc:
            raise CliError(str(exc)) from None
        return apply(args, config)
    if args.action == "start":
        if args.foreground:
            from localcloud.__main__ import main as serve

            return serve(["--host", config.host, "--port", str(config.port), "--home", str(config.home)])
        try:
            config = daemon.start(config)
        except daemon.DaemonError as exc:
            raise CliError(str(exc)) from None
        print(f"localcloud running at {config.url} (state in {config.home})")
        print("Point boto3 at it with:")
        _print_env(config)
    elif args.action == "stop":
        stopped = daemon.stop(config)
        for record in stopped:
            print(f"stopped localcloud at {record['url']} (pid {record['pid']})")
        if not stopped:
            print(f"localcloud was not running for {config.home}")
    elif args.action == "status":
        found = daemon.status(config)
        if not found:
            holder = daemon.port_holder(config.port)
            print(
                f"localcloud: not running (state dir {config.home})"
                + (f"; port {config.port} is held by {holder}" if holder else "")
            )
            return 3
        orphan = " without its run file (was the state directory deleted?)" if found.get("run_file") is False else ""
        print(f"localcloud: running at {found['url']} pid {found['pid']} (state in {config.home}){orphan}")
    elif args.action == "env":
        _print_env(running(config))
    return 0


def _print_env(config: Config) -> None:
    for name, value in config.client_env().items():
        print(f"export {name}={value}")
