"""`mlgw run`: run the whole pipeline locally."""

from __future__ import annotations

import argparse
import time

from mlgw.args import CliError, check_input_file, config_from, parse_pairs, policy_count, seed_number, with_home


def register(sub) -> None:
    run = with_home(
        sub.add_parser(
            "run",
            help="run the whole pipeline locally, ending with a deployed endpoint",
            description="Run the pipeline on the run configuration (`mlgw config show`), updated by "
            "these flags: start localcloud if needed, stage the data, upsert and start the SageMaker "
            "pipeline, show per-step progress and a summary: AUC, model package, endpoint and how "
            "to invoke it. With no data flags the configured data source is used again (synthetic "
            "data only when the configuration says so); --claims/--customers or --policies/--seed "
            "replace it. The configuration is stored as a new version once Ingest accepts the data; "
            "the retrain rule, `mlgw pipeline start`, `mlgw traffic`, the gateway and the studio "
            "all read it.",
        )
    )
    run.add_argument(
        "--policies",
        type=policy_count,
        help="generate N synthetic policies as the data source (default: the configured source; a new "
        "state: 5000 synthetic policies); not with --claims/--customers, which are the data",
    )
    run.add_argument(
        "--seed", type=seed_number, help="seed of the synthetic data (default: the configured one; a new state: 42)"
    )
    run.add_argument("--claims", help="your own claims.csv (with --customers)")
    run.add_argument("--customers", help="your own customers.csv (with --claims)")
    run.add_argument(
        "--schema",
        help="the data contract (a schema.json; default: the configured one, at first processing/schema.json); "
        "a new contract gets its own feature groups; see `mlgw schema infer`",
    )
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a pipeline parameter in the configuration, e.g. --param AucThreshold=0.8 (repeatable; "
        "it stays for later runs and retrains: `mlgw config set --unset NAME` removes it)",
    )
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # Everything a user can get wrong on the command line is checked here, before localcloud
    # starts, data is generated or the SageMaker SDK is imported (seconds of work).
    if bool(args.claims) != bool(args.customers):
        raise CliError("--claims and --customers go together: give both CSVs or neither")
    if args.claims and (args.policies is not None or args.seed is not None):
        raise CliError(
            "--policies/--seed describe generated data; with --claims/--customers your CSVs are the data: "
            "drop --policies/--seed"
        )
    for flag, path in (("--claims", args.claims), ("--customers", args.customers), ("--schema", args.schema)):
        if path:
            check_input_file(flag, path)
    overrides = parse_pairs(args.param)
    from localcloud.daemon import DaemonError
    from localcloud.sagemaker.images import ImageError
    from mlgw import local_run, run_config
    from pipelines.ml_gateway.run_pipeline import ParameterError
    from processing.contract import SchemaFileError

    try:
        result = local_run.run(
            config_from(args),
            policies=args.policies,
            seed=args.seed,
            claims=args.claims,
            customers=args.customers,
            parameters=overrides,
            schema=args.schema,
        )
    except (
        ParameterError,
        SchemaFileError,
        ImageError,
        run_config.RunConfigError,
        local_run.RunInProgress,
        DaemonError,
    ) as exc:
        raise CliError(str(exc)) from None
    from mlgw.studio.server import running_url

    studio = running_url(config_from(args).home)
    if studio:
        print(f"studio          {studio}/pipelines/{local_run.PIPELINE_NAME}/executions/{result.arn.rsplit('/', 1)[1]}")
    # The figure `mlgw run`'s target is about (and `mlgw bench pipeline` measures): data,
    # definition build and upsert, and the pipeline, not the pipeline alone.
    print(f"\nmlgw run took {time.monotonic() - started:.1f} s end to end (the pipeline {result.wall_seconds:.1f} s)")
    return 0 if result.succeeded else 1
