"""`mlgw stop`: stop every server `mlgw` left running for a state directory."""

from __future__ import annotations

import argparse

from localcloud.config import Config
from mlgw.args import with_home


def register(sub) -> None:
    p = sub.add_parser(
        "stop",
        help="stop the gateway, studio, MLflow UI and localcloud of a state directory",
        description="Stop everything mlgw left running for the state directory: the gateway, "
        "the studio, the MLflow UI and localcloud (with the jobs it runs). Each is "
        "found by its run file or, if that was deleted, by its process. State on "
        "disk is kept; `make clean` runs this, then deletes it.",
    )
    with_home(p, port=False)
    p.set_defaults(func=cmd_stop)


def cmd_stop(args: argparse.Namespace) -> int:
    from mlgw import servers

    home = Config.from_flags(getattr(args, "home", None)).home
    stopped = servers.stop_all(home)
    for server in stopped:
        print(f"stopped {server}")
    if not stopped:
        print(f"nothing was running for {home}")
    return 0
