"""`mlgw mlflow`: the local MLflow tracking store and MLflow's UI over it."""

from __future__ import annotations

import argparse
import os

from mlgw.args import config_from, port_number, with_home


def register(sub) -> None:
    p = sub.add_parser(
        "mlflow",
        help="serve MLflow's UI over the local tracking store (runs log there)",
        description="Create the local MLflow tracking store under the state directory "
        "(<home>/mlflow) if needed and serve MLflow's UI on 127.0.0.1. Once "
        "the store exists, `mlgw run` logs every training + evaluation run "
        "to it (parameters, per-round AUC, ROC/PR curves, confusion matrix, "
        "feature importance) and the studio links model versions to their run.",
    )
    with_home(p, port=False)
    p.add_argument(
        "--mlflow-port",
        type=port_number,
        default=int(os.environ.get("MLGW_MLFLOW_PORT", 5000)),
        help="the MLflow UI's port (default: $MLGW_MLFLOW_PORT or 5000)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--create-only", action="store_true", help="create the store and exit")
    p.set_defaults(func=cmd_mlflow)


def cmd_mlflow(args: argparse.Namespace) -> int:
    import subprocess
    import sys

    from localcloud import daemon
    from mlgw import mlflow_store
    from mlgw.studio.server import mlflow_file

    home = config_from(args).home
    uri = mlflow_store.create(home)
    print(f"MLflow tracking store {uri}")
    if args.create_only:
        return 0
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        (mlflow_store.store_dir(home) / "artifacts").resolve().as_uri(),
        "--host",
        args.host,
        "--port",
        str(args.mlflow_port),
    ]
    proc = subprocess.Popen(command)
    daemon.write_record(mlflow_file(home), proc.pid, args.host, args.mlflow_port)
    print(f"MLflow UI on http://{args.host}:{args.mlflow_port}  (Ctrl-C stops it)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        return 0
    finally:
        mlflow_file(home).unlink(missing_ok=True)
