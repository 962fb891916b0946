"""`mlgw`: run the ML Gateway workflow locally (the default) or on AWS.

Heavy modules (the SageMaker SDK, pandas, xgboost) are imported inside the commands that use
them so `mlgw --help` and the small commands stay instant.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

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


def _config(args: argparse.Namespace) -> Config:
    return Config.from_flags(getattr(args, "home", None), getattr(args, "port", None))


def _running(config: Config) -> Config:
    from localcloud import daemon
    try:
        return daemon.require_running(config)
    except daemon.DaemonError as exc:
        raise CliError(str(exc)) from None


# -- localcloud ------------------------------------------------------------------------------

def cmd_localcloud(args: argparse.Namespace) -> int:
    from localcloud import daemon
    config = _config(args)
    if args.action == "start":
        if args.foreground:
            from localcloud.__main__ import main as serve
            return serve(["--host", config.host, "--port", str(config.port),
                          "--home", str(config.home)])
        try:
            config = daemon.start(config)
        except daemon.DaemonError as exc:
            raise CliError(str(exc)) from None
        print(f"localcloud running at {config.url} (state in {config.home})")
        print("Point boto3 at it with:")
        _print_env(config)
    elif args.action == "stop":
        print("stopped" if daemon.stop(config) else f"localcloud was not running for {config.home}")
    elif args.action == "status":
        record = daemon.status(config)
        if not record:
            print(f"localcloud: not running (state dir {config.home})")
            return 3
        print(f"localcloud: running at {record['url']} pid {record['pid']} (state in {config.home})")
    elif args.action == "env":
        _print_env(_running(config))
    return 0


def _print_env(config: Config) -> None:
    for name, value in config.client_env().items():
        print(f"export {name}={value}")


# -- data ------------------------------------------------------------------------------------

def cmd_data(args: argparse.Namespace) -> int:
    from processing import synthetic
    out = Path(args.out)
    synthetic.write(out, policies=args.policies, seed=args.seed)
    print(f"wrote {out / 'claims.csv'} and {out / 'customers.csv'} ({args.policies:,} policies, seed {args.seed})")
    return 0


# -- run -------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from mlgw import local_run
    if bool(args.claims) != bool(args.customers):
        raise CliError("--claims and --customers go together: give both CSVs or neither")
    for path in filter(None, (args.claims, args.customers)):
        if not Path(path).is_file():
            raise CliError(f"no such file: {path}")
    overrides = parse_pairs(args.param)
    from pipelines.ml_gateway.run_pipeline import ParameterError
    try:
        result = local_run.run(_config(args), policies=args.policies, seed=args.seed,
                               claims=args.claims, customers=args.customers, parameters=overrides)
    except ParameterError as exc:
        raise CliError(str(exc)) from None
    return 0 if result.succeeded else 1


def parse_pairs(pairs: list[str], flag: str = "--param") -> dict[str, str]:
    """`NAME=VALUE` flags (--param, --tag) as a dict."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"{flag} takes NAME=VALUE, got {pair!r}")
        params[name] = value
    return params


# -- pipeline --------------------------------------------------------------------------------

def cmd_pipeline(args: argparse.Namespace) -> int:
    from mlgw import local_run
    if args.target == "aws":
        from mlgw.aws_run import run_aws
        return run_aws(args)
    if args.processing_image_uri:
        raise CliError("--processing-image-uri applies to --target aws: the local executor "
                       "runs the processing scripts without an image")
    config = _running(_config(args))
    if args.action in ("upsert", "start"):
        from pipelines.ml_gateway.run_pipeline import ParameterError
        try:
            result = local_run.upsert_or_start(config, args.action, args.pipeline_name,
                                               parse_pairs(args.param), args.print_arn)
        except ParameterError as exc:
            raise CliError(str(exc)) from None
        return 0 if result is None or result.succeeded else 1
    if args.action == "executions":
        local_run.print_executions(config, args.pipeline_name)
        return 0
    if args.action == "describe":
        local_run.print_execution(config, args.pipeline_name, args.execution_arn)
        return 0
    if args.action == "retry":
        result = local_run.retry(config, args.pipeline_name, args.execution_arn)
        return 0 if result.succeeded else 1
    raise CliError(f"unknown pipeline action {args.action}")


# -- demo ----------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from mlgw import demo
    return demo.demo(_config(args), policies=args.policies, traffic_policies=args.traffic,
                     drift=args.drift)


# -- traffic -------------------------------------------------------------------------------

def cmd_traffic(args: argparse.Namespace) -> int:
    from mlgw import traffic
    config = _running(_config(args))
    try:
        summary = traffic.replay(config, policies=args.policies, seed=args.seed, drift=args.drift,
                                 endpoint_name=args.endpoint_name, concurrency=args.concurrency)
    except traffic.TrafficError as exc:
        raise CliError(str(exc)) from None
    traffic.print_summary(summary)
    return 0 if summary.statuses.get(200, 0) == summary.requests else 1


# -- endpoint ------------------------------------------------------------------------------

def cmd_endpoint(args: argparse.Namespace) -> int:
    from mlgw.local_run import clients
    from processing import deploy
    from processing.job import JobError
    _, sm, _ = clients(_running(_config(args)))
    try:
        if args.action == "promote" or args.action == "rollback":
            kept = deploy.finish_test(sm, args.name, args.variant, promote=args.action == "promote")
            print(f"{args.name}: {kept} now takes all traffic")
        elif args.action == "weights":
            if not args.weight:
                raise CliError("weights needs --weight VARIANT=W (repeatable)")
            desired = []
            for pair in args.weight:
                variant, _, weight = pair.partition("=")
                try:
                    desired.append({"VariantName": variant, "DesiredWeight": float(weight)})
                except ValueError:
                    raise CliError(f"--weight takes VARIANT=WEIGHT, got {pair!r}") from None
            sm.update_endpoint_weights_and_capacities(EndpointName=args.name,
                                                      DesiredWeightsAndCapacities=desired)
            deploy.wait_in_service(sm, args.name, timeout=300)
    except JobError as exc:
        raise CliError(str(exc)) from None
    endpoint = deploy.describe_endpoint(sm, args.name)
    if endpoint is None:
        raise CliError(f"endpoint {args.name} does not exist; `mlgw run` deploys it")
    print(f"{args.name}  {endpoint['EndpointStatus']}  config {endpoint['EndpointConfigName']}")
    total = sum(v.get("CurrentWeight", 0) for v in endpoint.get("ProductionVariants", [])) or 1
    for variant in endpoint.get("ProductionVariants", []):
        share = variant.get("CurrentWeight", 0) / total
        print(f"  {variant['VariantName']:<10} weight {variant.get('CurrentWeight', 0):<6g} ({share:.0%} of traffic)")
    return 0


# -- bench ---------------------------------------------------------------------------------

def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "pipeline":
        from benchmarks.pipeline import bench_pipeline
        return bench_pipeline(args.policies or [5_000, 100_000])
    if args.what == "localcloud":
        from benchmarks.localcloud import bench_localcloud
        return bench_localcloud()
    if args.what == "gateway":
        from benchmarks.gateway import bench_gateway
        return bench_gateway()
    if args.what == "monitor":
        from benchmarks.monitor import bench_monitor, print_bench
        print("writing 1,000,000 capture records (not timed), then monitoring them…", flush=True)
        print_bench(bench_monitor())
        return 0
    raise CliError(f"unknown benchmark {args.what}")


# -- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlgw",
        description="ML Gateway on SageMaker: build, deploy and serve a fraud model. "
                    "Runs locally by default against localcloud (no AWS account, no Docker).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_home(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--home", help="localcloud state directory (default: $MLGW_HOME or ./.mlgw)")
        p.add_argument("--port", type=int, help="localcloud port (default: $MLGW_PORT or 4777)")
        return p

    lc = with_home(sub.add_parser("localcloud", help="start/stop the embedded AWS stand-in",
                                  description="Manage localcloud, the embedded stand-in for S3, "
                                              "Feature Store, the model registry, hosting and "
                                              "Pipelines. `env` prints the variables that point "
                                              "boto3 at it."))
    lc.add_argument("action", choices=["start", "stop", "status", "env"])
    lc.add_argument("--foreground", action="store_true", help="serve in this terminal (start only)")
    lc.set_defaults(func=cmd_localcloud)

    data = sub.add_parser("data", help="generate synthetic claims and customers CSVs",
                          description="Write claims.csv and customers.csv in the raw schema of "
                                      "the auto-insurance sample, with a learnable fraud signal.")
    data.add_argument("action", choices=["generate"])
    data.add_argument("--policies", type=positive_int, default=5000, help="number of policies (default 5000)")
    data.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    data.add_argument("--out", default="data", help="output directory (default ./data)")
    data.set_defaults(func=cmd_data)

    run = with_home(sub.add_parser(
        "run", help="run the whole pipeline locally, ending with a deployed endpoint",
        description="Generate data (unless --claims/--customers are given), start localcloud if "
                    "needed, upsert and start the SageMaker pipeline, show per-step progress and "
                    "a summary: AUC, model package, endpoint and how to invoke it."))
    run.add_argument("--policies", type=positive_int, default=5000, help="synthetic policies to generate (default 5000)")
    run.add_argument("--seed", type=int, default=42, help="seed for the synthetic data (default 42)")
    run.add_argument("--claims", help="your own claims.csv (with --customers)")
    run.add_argument("--customers", help="your own customers.csv (with --claims)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a pipeline parameter, e.g. --param AucThreshold=0.8 (repeatable)")
    run.set_defaults(func=cmd_run)

    pipe = with_home(sub.add_parser("pipeline", help="list, inspect or retry pipeline executions",
                                    description="Inspect executions of the pipeline in localcloud."))
    pipe.description = ("Upsert and start the pipeline, list, inspect or retry its executions — "
                        "on localcloud (default) or on AWS (--target aws, with the SageMaker SDK "
                        "and your AWS credentials).")
    pipe.add_argument("action", choices=["upsert", "start", "executions", "describe", "retry"])
    pipe.add_argument("execution_arn", nargs="?", help="execution ARN (default: the latest)")
    pipe.add_argument("--target", choices=["local", "aws"], default="local",
                      help="localcloud (default) or AWS")
    pipe.add_argument("--pipeline-name", default="MLGatewayPipeline")
    pipe.add_argument("--config", metavar="FILE",
                      help="JSON file with any of role_arn, region, default_bucket, "
                           "model_package_group_name, processing_image_uri, tags {k: v}, "
                           "parameters {name: value}; flags override it")
    pipe.add_argument("--role-arn", help="pipeline execution role (aws: required)")
    pipe.add_argument("--region", help="AWS region (aws: default $AWS_REGION)")
    pipe.add_argument("--default-bucket", help="bucket for code and artifacts (default: the SDK's)")
    pipe.add_argument("--model-package-group-name", help="default MLGatewayFraud")
    pipe.add_argument("--processing-image-uri", metavar="URI",
                      help="aws upsert: container image for every processing step (Ingest, "
                           "FeatureStore, BuildDataset, Baseline, Evaluate, Deploy), built from "
                           "processing/Dockerfile and pushed to ECR (buildspec.yml does both). "
                           "Default: ACCOUNT.dkr.ecr.REGION.amazonaws.com/ml-gateway-processing:"
                           "latest, ACCOUNT from STS GetCallerIdentity. Training and serving keep "
                           "SageMaker's XGBoost image; the local executor runs no image, so "
                           "--target local rejects this flag")
    pipe.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                      help="tag for the pipeline (upsert; repeatable)")
    pipe.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="pipeline parameter for start (repeatable)")
    pipe.add_argument("--wait", action="store_true",
                      help="start/retry: stream step status until the execution ends; "
                           "exit 1 if it fails (local start/retry always wait)")
    pipe.add_argument("--print-arn", action="store_true",
                      help="start: print only the execution ARN (for scripts, e.g. buildspec.yml)")
    pipe.set_defaults(func=cmd_pipeline)

    demo = with_home(sub.add_parser(
        "demo", help="the whole loop: deploy, traffic, Model Monitor, drift → retrain",
        description="Run the pipeline, replay normal traffic through the gateway and monitor it; "
                    "with --drift, replay drifted traffic too: Model Monitor finds the drift, its "
                    "event re-runs the pipeline through EventBridge and the new model is deployed "
                    "as a canary."))
    demo.add_argument("--policies", type=positive_int, default=5000, help="initial dataset size (default 5000)")
    demo.add_argument("--traffic", type=positive_int, default=1000, help="policies per traffic batch (default 1000)")
    demo.add_argument("--drift", nargs="?", const="total_claim_amount*1.4", metavar="SPEC",
                      help="replay drifted traffic (default spec total_claim_amount*1.4; "
                           "see `mlgw traffic --help`)")
    demo.set_defaults(func=cmd_demo)

    traffic = with_home(sub.add_parser(
        "traffic", help="replay new claims through the gateway, optionally drifted",
        description="Send N new policies (raw claim + customer records) through the ML Gateway "
                    "Lambda handler to the endpoint, then add the labelled batch to the current "
                    "dataset. --drift shifts the data: COLUMN*FACTOR (e.g. total_claim_amount*1.4) "
                    "or COLUMN=VALUE:SHARE (e.g. policy_state=NV:0.5), comma-separated."))
    traffic.add_argument("--policies", type=positive_int, default=1000, help="requests to send (default 1000)")
    traffic.add_argument("--seed", type=int, default=1, help="seed for the replayed policies (default 1)")
    traffic.add_argument("--drift", help="shift the replayed data (see above)")
    traffic.add_argument("--endpoint-name", default="ml-gateway-fraud")
    traffic.add_argument("--concurrency", type=positive_int, default=4, help="parallel requests (default 4)")
    traffic.set_defaults(func=cmd_traffic)

    endpoint = with_home(sub.add_parser(
        "endpoint", help="show an endpoint's variants; promote or roll back a canary; set weights",
        description="describe: variants and their traffic shares. promote: the newest (lowest-"
                    "weight) variant takes all traffic. rollback: the variant serving most traffic "
                    "keeps it all. weights: set variant weights in place (no redeploy)."))
    endpoint.add_argument("action", choices=["describe", "promote", "rollback", "weights"])
    endpoint.add_argument("--name", default="ml-gateway-fraud", help="endpoint (default ml-gateway-fraud)")
    endpoint.add_argument("--variant", help="promote/rollback: keep this variant instead")
    endpoint.add_argument("--weight", action="append", metavar="VARIANT=W",
                          help="weights: a variant's new weight (repeatable)")
    endpoint.set_defaults(func=cmd_endpoint)

    bench = sub.add_parser("bench", help="benchmarks against the targets in DESIGN.md",
                           description="pipeline: per-step and total wall time, peak memory and "
                                       "test AUC at 5,000 and 100,000 policies. localcloud: "
                                       "GetRecord p50/p99 (in-process and HTTP), bulk ingest "
                                       "records/s, InvokeEndpoint p50/p99. gateway: in-process "
                                       "floor, a naive single-process service and the gateway "
                                       "end to end at 1 and 16 clients, plus the Lambda "
                                       "handler alone with its AWS answers replayed (what "
                                       "boto3 costs before any network). monitor: a monitoring "
                                       "run over 1,000,000 captured records.")
    bench.add_argument("what", choices=["pipeline", "localcloud", "gateway", "monitor"])
    bench.add_argument("--policies", type=positive_int, action="append",
                       help="pipeline sizes to run (repeatable; default 5000 and 100000)")
    bench.set_defaults(func=cmd_bench)

    from mlgw.commands.gateway import register as add_gateway_commands
    from mlgw.commands.events import register as add_events_commands
    from mlgw.commands.segments import register as add_segments_commands
    from mlgw.commands.monitor import register as add_monitor_commands
    add_gateway_commands(sub)
    add_segments_commands(sub)
    add_events_commands(sub)
    add_monitor_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The SageMaker SDK turns on INFO logging for everything when imported; the CLI prints
    # its own progress, so library chatter stays at warnings.
    for name in ("botocore", "boto3", "sagemaker", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"mlgw: {exc}", file=sys.stderr)
        return 2
    except BotoCoreError as exc:      # localcloud or AWS unreachable, bad parameters
        print(f"mlgw: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:        # the service refused: its code and message say why
        error = exc.response.get("Error", {})
        print(f"mlgw: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlgw: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
