"""`gateway start|stop|status` and `gateway keys create|list|revoke`.

`start` runs the gateway as a background process found again through a run file
(`<home>/apigateway/gateway.json`), as localcloud.daemon does for localcloud itself, or without
it by its command line (`--home <state dir>`); it starts localcloud first if needed, since the
gateway's boto3 calls go there, and stops that localcloud again if the gateway then fails to
start. Key commands work on the key database directly, so they need no running server.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from localcloud.apigateway.exceptions import UnknownKey
from localcloud.apigateway.models import KeyStore, default_path
from localcloud.config import DEFAULT_GATEWAY_PORT as DEFAULT_PORT
from localcloud.config import Config
from localcloud.daemon import DaemonError, answers, find, port_holder, spawn, stop_servers, write_record
from mlgw.args import bounded_float, bounded_int, config_from, port_number, print_error, with_endpoint, with_home

MODULE = "localcloud.apigateway"  # the server's command line: python -m localcloud.apigateway
# Worker processes share this machine's cores: past a few a core they only contend for them
# (and each holds an interpreter and its own rate buckets).
WORKERS_PER_CORE = 4
CORES = os.cpu_count() or 1
MAX_WORKERS = WORKERS_PER_CORE * CORES
# A usage plan's numbers are API Gateway's 32-bit Integers (ThrottleSettings' burstLimit,
# QuotaSettings' limit; https://docs.aws.amazon.com/apigateway/latest/api/API_ThrottleSettings.html,
# https://docs.aws.amazon.com/apigateway/latest/api/API_QuotaSettings.html); the rate is a
# Double, bounded the same since a rate without a burst gets burst ceil(rate).
MAX_PLAN_NUMBER = 2**31 - 1


def register(subparsers) -> None:
    gateway = subparsers.add_parser(
        "gateway",
        help="the local API Gateway in front of the endpoint",
        description="Serve the ML Gateway (API keys, usage plans, validation, Lambda proxy and "
        "direct integrations) on 127.0.0.1, and manage its API keys.",
    )
    with_home(gateway)
    actions = gateway.add_subparsers(dest="gateway_action", required=True, metavar="ACTION")

    start = with_home(
        actions.add_parser(
            "start",
            help="start the gateway (in the background by default)",
            description="Start this state directory's gateway in front of an endpoint (and "
            "localcloud if it is not running). A gateway already running is left as "
            "it is; to change its settings, stop it first.",
        )
    )
    start.add_argument(
        "--gateway-port",
        type=port_number,
        default=None,
        help=f"the gateway's own port (default: $MLGW_GATEWAY_PORT or {DEFAULT_PORT}; --port is localcloud's)",
    )
    with_endpoint(
        start,
        os.environ.get("ENDPOINT_NAME", "ml-gateway-fraud"),
        "SageMaker endpoint to serve (default: $ENDPOINT_NAME or ml-gateway-fraud)",
    )
    start.add_argument(
        "--workers",
        type=bounded_int(1, MAX_WORKERS, f"{WORKERS_PER_CORE} a core on this machine's {CORES}"),
        default=1,
        help="gateway processes sharing the port (default 1); with more than one, "
        "each enforces rate limits on its own (daily quotas are shared)",
    )
    start.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        help="an origin browsers may call the API from (repeatable; default "
        "none, or MLGW_CORS_ORIGINS, comma-separated)",
    )
    start.add_argument("--foreground", action="store_true", help="serve in this terminal")
    start.add_argument(
        "--schema",
        help="the data contract raw records are validated and encoded "
        "with (the one the model was trained on; default "
        "$MLGW_SCHEMA or processing/schema.json)",
    )
    start.set_defaults(func=cmd_start)
    with_home(
        actions.add_parser(
            "stop",
            help="stop this state directory's gateway (found by its run file or its process)",
            description="Stop the gateway of the state directory (--home), found by its run file or, "
            "if that is gone, by its process; localcloud keeps running (`mlgw stop` "
            "stops everything).",
        ),
        port=False,
    ).set_defaults(func=cmd_stop)
    with_home(
        actions.add_parser(
            "status",
            help="is this state directory's gateway running, and where "
            "(exit code 3 when not, as `mlgw localcloud status`)",
        )
    ).set_defaults(func=cmd_status)

    keys = actions.add_parser("keys", help="API keys and their usage plans")
    key_actions = keys.add_subparsers(dest="keys_action", required=True, metavar="KEYS_ACTION")
    create = with_home(
        key_actions.add_parser(
            "create",
            help="create a key (printed once)",
            description="Create an API key with its usage plan: a steady rate and burst (a token "
            "bucket, as API Gateway throttles) and a daily quota. The key's value is "
            "printed once; the store keeps only its hash.",
        ),
        port=False,
    )
    create.add_argument("--name", required=True, help="a label for the key (its owner or use)")
    plan_number = "API Gateway's usage plans take a 32-bit Integer"
    create.add_argument(
        "--rate", type=bounded_float(MAX_PLAN_NUMBER, plan_number), help="steady requests/s (default: unthrottled)"
    )
    create.add_argument(
        "--burst", type=bounded_int(1, MAX_PLAN_NUMBER, plan_number), help="bucket size (default: ceil(rate))"
    )
    create.add_argument(
        "--quota",
        type=bounded_int(1, MAX_PLAN_NUMBER, plan_number),
        help="requests per UTC day (default: unlimited)",
    )
    create.set_defaults(func=cmd_keys_create)
    with_home(key_actions.add_parser("list", help="list keys (never their values)"), port=False).set_defaults(
        func=cmd_keys_list
    )
    revoke = with_home(key_actions.add_parser("revoke", help="revoke a key by id"), port=False)
    revoke.add_argument("key_id", help="the key's id, as `keys create` and `keys list` print it")
    revoke.set_defaults(func=cmd_keys_revoke)


def _config(args: argparse.Namespace) -> Config:
    return config_from(args)


def _run_file(config: Config) -> Path:
    return config.home / "apigateway" / "gateway.json"


def status(config: Config) -> dict | None:
    """The gateway of config.home (pid, host, port, url), from its run file or, failing that,
    its process ("run_file": False); None when none runs."""
    return find(MODULE, config.home, _run_file(config))


def stop(config: Config) -> list[dict]:
    """Stop every gateway of config.home; the records stopped."""
    return stop_servers(MODULE, config.home, _run_file(config))


def asked_port(args: argparse.Namespace) -> int | None:
    """The gateway port asked for: --gateway-port, else $MLGW_GATEWAY_PORT; None if neither
    (then DEFAULT_PORT, and a gateway already running on another port is fine)."""
    value = getattr(args, "gateway_port", None) or os.environ.get("MLGW_GATEWAY_PORT")
    return int(value) if value else None


def _fail(message: str) -> int:
    print_error(message)
    return 2


def cmd_start(args: argparse.Namespace) -> int:
    from localcloud import daemon

    config = _config(args)
    asked = asked_port(args)
    port = asked or DEFAULT_PORT
    if not args.foreground:
        found = status(config)
        if found and asked is not None and found["port"] != asked:
            return _fail(
                f"a gateway for {config.home} is already running at {describe(found)}, "
                f"not on port {asked}; stop it first (`mlgw gateway stop`) to start "
                f"it on port {asked}"
            )
        settings = [
            flag
            for flag, given in (
                ("--schema", args.schema),
                ("--cors-origin", args.cors_origin),
                ("--workers", args.workers != 1),
            )
            if given
        ]
        if found and settings:  # they would silently not apply to the running gateway
            return _fail(
                f"a gateway for {config.home} is already running at {describe(found)} "
                f"with its own settings; stop it first (`mlgw gateway stop`) to start "
                f"it with {', '.join(settings)}"
            )
        if found:
            print(f"gateway already running at {describe(found)}")
            return 0
        if answers("127.0.0.1", port):
            return _fail(
                f"port {port} is taken by {port_holder(port) or 'another program'}; "
                "choose another with --gateway-port or MLGW_GATEWAY_PORT"
            )
    had_cloud = daemon.status(config) is not None
    try:
        cloud = daemon.start(config)  # no-op when localcloud is already running
    except daemon.DaemonError as exc:
        return _fail(str(exc))
    code = 1
    try:
        code = _start(args, config, cloud, port)
    finally:
        if code != 0 and not had_cloud:
            # A failed start leaves nothing behind: the localcloud started for it goes too.
            daemon.stop(config)
    return code


def _start(args: argparse.Namespace, config: Config, cloud: Config, port: int) -> int:
    # The handler signs as the template's GatewayLambdaRole, as the function does on AWS.
    from localcloud.iam.models import role_environment
    from localcloud.iam.template import role_arn

    env = {
        **os.environ,
        **cloud.client_env(),
        "ENDPOINT_NAME": args.endpoint,
        **role_environment(cloud, role_arn("GatewayLambdaRole", cloud.account_id, cloud.region)),
    }
    from mlgw import local_run
    from processing import contract

    schema = None
    if getattr(args, "schema", None):
        try:
            contract.load(args.schema)
        except contract.SchemaFileError as exc:
            return _fail(str(exc))
        schema = str(Path(args.schema).resolve())
    # The function's environment (feature groups, contract) from the run configuration, as the
    # template sets it on AWS; --schema overrides the contract until the configuration changes.
    local_run.publish_function_environment(cloud, local_run.clients(cloud)[2], schema=schema)
    # The function runs from the zip `mlgw build lambda` builds (once per content), as on AWS.
    from mlgw import lambda_package

    try:
        function = lambda_package.publish(config.home, args.endpoint, cloud.account_id, cloud.region)
    except (FileNotFoundError, KeyError) as exc:
        return _fail(f"cannot build the gateway Lambda's package: {exc}")
    command = [
        sys.executable,
        "-m",
        MODULE,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--home",
        str(config.home),
        "--endpoint-name",
        args.endpoint,
        "--function",
        str(function),
    ]
    if getattr(args, "workers", 1) > 1:
        command += ["--workers", str(args.workers)]
    for origin in getattr(args, "cors_origin", None) or ():
        command += ["--cors-origin", origin]
    if args.foreground:
        os.environ.update(env)
        from localcloud.apigateway.__main__ import main as serve

        return serve(command[3:])
    log_path = config.home / "apigateway" / "gateway.log"
    try:
        proc = spawn(command, env, "127.0.0.1", port, log_path, "gateway")
    except DaemonError as exc:
        return _fail(str(exc))
    url = write_record(_run_file(config), proc.pid, "127.0.0.1", port)["url"]
    print(f"gateway running at {url} for endpoint {args.endpoint} (log {log_path})")
    _warn_if_no_endpoint(cloud, args.endpoint)
    print(
        f"create a key with `mlgw gateway keys create --name NAME`, then:\n"
        f"  curl -H 'x-api-key: KEY' -d '{{\"policy_id\": 1}}' {url}/v1/predict"
    )
    return 0


def _warn_if_no_endpoint(cloud: Config, endpoint: str) -> None:
    """As API Gateway accepts an integration whose endpoint does not exist yet, the gateway
    starts; but say that every request will get 503 until it does."""
    from mlgw.local_run import clients

    _, sm, _ = clients(cloud)
    names = [e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]]
    if endpoint not in names:
        print(
            f"note: endpoint {endpoint} does not exist yet, so requests answer 503 until it "
            f"does ({'endpoints here: ' + ', '.join(sorted(names)) if names else '`mlgw run` deploys one'}"
            "; choose with --endpoint)",
            file=sys.stderr,
        )


def describe(record: dict) -> str:
    orphan = " (its run file is gone: was the state directory deleted?)" if record.get("run_file") is False else ""
    return f"{record['url']} (pid {record['pid']}){orphan}"


def cmd_stop(args: argparse.Namespace) -> int:
    config = _config(args)
    stopped = stop(config)
    for record in stopped:
        print(f"stopped the gateway at {describe(record)}")
    if not stopped:
        print(f"gateway was not running for {config.home}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    record = status(config)
    if record:
        print(f"gateway running at {describe(record)}")
        return 0
    port = asked_port(args) or DEFAULT_PORT
    holder = port_holder(port)
    print(f"gateway not running for {config.home}" + (f"; port {port} is held by {holder}" if holder else ""))
    return 3  # LSB's "program is not running", as `mlgw localcloud status` answers


def _keys(args: argparse.Namespace) -> KeyStore:
    return KeyStore(default_path(_config(args).home))


def cmd_keys_create(args: argparse.Namespace) -> int:
    store = _keys(args)
    try:
        key, secret = store.create(args.name, args.rate, args.burst, args.quota)
    except ValueError as exc:
        return _fail(str(exc))
    finally:
        store.close()
    plan = (
        ", ".join(
            f"{k} {v}" for k, v in (("rate", key.rate), ("burst", key.burst), ("quota", key.quota)) if v is not None
        )
        or "unlimited"
    )
    print(f"created API key {key.id} ({key.name}; {plan})")
    print(f"key (shown once, only its hash is stored): {secret}")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    store = _keys(args)
    try:
        keys = store.list()
        if not keys:
            print("no API keys")
        for key in keys:
            state = "revoked" if key.revoked else "active"
            used = store.usage(key.id)
            print(
                f"{key.id}  {key.name}  {state}  rate={key.rate or '-'} burst={key.burst or '-'} "
                f"quota={key.quota or '-'} used_today={used}"
            )
    finally:
        store.close()
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    store = _keys(args)
    try:
        store.revoke(args.key_id)
    except UnknownKey as exc:
        return _fail(str(exc))
    finally:
        store.close()
    print(f"revoked {args.key_id}")
    return 0
