"""`mlgw run`: run the whole pipeline locally."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlgw.args import CliError, config_from, positive_int, parse_pairs, with_home


def register(sub) -> None:
    run = with_home(sub.add_parser(
        "run", help="run the whole pipeline locally, ending with a deployed endpoint",
        description="Generate data (unless --claims/--customers are given), start localcloud if "
                    "needed, upsert and start the SageMaker pipeline, show per-step progress and "
                    "a summary: AUC, model package, endpoint and how to invoke it."))
    run.add_argument("--policies", type=positive_int, default=5000, help="synthetic policies to generate (default 5000)")
    run.add_argument("--seed", type=int, default=42, help="seed for the synthetic data (default 42)")
    run.add_argument("--claims", help="your own claims.csv (with --customers)")
    run.add_argument("--customers", help="your own customers.csv (with --claims)")
    run.add_argument("--schema", help="the data contract (a schema.json; default: "
                                       "processing/schema.json); see `mlgw schema infer`")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a pipeline parameter, e.g. --param AucThreshold=0.8 (repeatable)")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from mlgw import local_run
    if bool(args.claims) != bool(args.customers):
        raise CliError("--claims and --customers go together: give both CSVs or neither")
    for path in filter(None, (args.claims, args.customers, args.schema)):
        if not Path(path).is_file():
            raise CliError(f"no such file: {path}")
    overrides = parse_pairs(args.param)
    from mlgw import mlflow_store
    tracking = mlflow_store.configured(config_from(args).home)   # `mlgw mlflow` created a store
    if tracking and "MlflowTrackingUri" not in overrides:
        overrides["MlflowTrackingUri"] = tracking
    from pipelines.ml_gateway.run_pipeline import ParameterError
    from processing.contract import SchemaFileError
    try:
        result = local_run.run(config_from(args), policies=args.policies, seed=args.seed,
                               claims=args.claims, customers=args.customers, parameters=overrides,
                               schema=args.schema)
    except (ParameterError, SchemaFileError, local_run.RunInProgress) as exc:
        raise CliError(str(exc)) from None
    from mlgw.studio.server import running_url
    studio = running_url(config_from(args).home)
    if studio:
        print(f"studio          {studio}/pipelines/{local_run.PIPELINE_NAME}/executions/"
              f"{result.arn.rsplit('/', 1)[1]}")
    return 0 if result.succeeded else 1
