"""`mlgw run` and `mlgw pipeline ...` on the local default: localcloud + our executor.

The pipeline is built with the SageMaker SDK (or its compiled definition taken from the cache of
an identical earlier build, mlgw/definition_cache.py) and upserted/started through the
SageMaker API with the calls the SDK makes on AWS; only the endpoint the clients talk to differs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from localcloud import daemon
from localcloud.config import Config
from mlgw import definition_cache, executions, run_config
from mlgw.execution_report import champion_lines, failure_advice
from mlgw.progress import ExecutionResult, Phases
from mlgw.target import Target, sdk_default_bucket
from pipelines.ml_gateway import locations

PIPELINE_NAME = "MLGatewayPipeline"
ENDPOINT_NAME = "ml-gateway-fraud"
# The roles of infra/ml-gateway.yaml, which localcloud's IAM holds (localcloud/iam/): the
# pipeline and its jobs run as SageMakerExecutionRole, the drift rule's target as RetrainRole.
ROLE = "SageMakerExecutionRole"
RETRAIN_ROLE = "RetrainRole"


def clients(config: Config) -> tuple[Any, Any, Any]:
    """(boto3 session, sagemaker, s3) of the localcloud serving `config` (Target.local)."""
    target = Target.local(config)
    return target.session, target.client("sagemaker"), target.client("s3")


def default_bucket(config: Config) -> str:
    """The workflow's bucket on this localcloud: the SageMaker SDK's own default bucket name,
    so AWS and local lay out objects alike."""
    return sdk_default_bucket(config.region, config.account_id)


LANDING = f"{locations.BASE_PREFIX}/{locations.LANDING}"
STAGING = f"{locations.BASE_PREFIX}/{locations.STAGING}"


def landing_uris(config: Config) -> dict[str, str]:
    """The current dataset: every CSV under these prefixes is one input of the pipeline (the
    pipeline's default inputs, pipelines/ml_gateway/locations.py). A run's Ingest replaces it
    with the run's data once it accepted them; replayed traffic adds batches to it; a retrain
    reads it whole."""
    bucket = default_bucket(config)
    return {table: locations.landing_uri(bucket, table) for table in locations.TABLES}


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=bucket)


def stage_schema(config: Config, s3, schema: str) -> str:
    """Check a data contract file and upload it (content-addressed); its S3 URI, the
    pipeline's SchemaUri. The contract becomes this process's active one (data generation)."""
    import hashlib

    from processing import contract

    contract.activate(schema)  # SchemaFileError names the key at fault
    body = Path(schema).read_bytes()
    bucket = default_bucket(config)
    ensure_bucket(s3, bucket)
    key = f"ml-gateway/schemas/{hashlib.sha256(body).hexdigest()[:16]}/schema.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def prepare_data(
    config: Config, s3, policies: int, seed: int, claims: str | None, customers: str | None, schema_tag: str = ""
) -> dict[str, str]:
    """Generate (or take) the raw CSVs and stage them for one run; return their staging
    prefixes {table: s3://.../staging/<digest>/<table>/}, the run's ClaimsInputUri and
    CustomersInputUri.

    Staging never touches the current dataset (the landing prefixes): the run's Ingest step
    makes the staged files current only once it accepted them (processing/ingest.py), so a
    bad file fails its run and leaves retrains on the previous good data. The prefix is named
    by the files' content, so the same data is uploaded once and a retry re-reads it."""
    import hashlib

    if claims is None:
        from processing import synthetic

        data_dir = config.home / "data" / f"synthetic-{policies}-seed{seed}{schema_tag}"
        if not (data_dir / "claims.csv").exists():
            t0 = time.perf_counter()
            synthetic.write(data_dir, policies=policies, seed=seed)
            print(f"generated {policies:,} policies in {time.perf_counter() - t0:.1f} s → {data_dir}", flush=True)
        claims, customers = str(data_dir / "claims.csv"), str(data_dir / "customers.csv")
    elif customers is None:  # `mlgw run` takes both files or neither
        raise ValueError("claims and customers are given together: customers is missing")
    # The user's own file names, so a validation error names the files they gave.
    files = {
        table: (Path(path), Path(path).name if str(path).endswith(".csv") else f"{Path(path).name}.csv")
        for table, path in (("claims", claims), ("customers", customers))
    }
    digest = hashlib.sha256()
    for table, (path, name) in files.items():
        digest.update(f"{table}/{name}\0".encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    prefix = f"{STAGING}/{digest.hexdigest()[:16]}"
    bucket = default_bucket(config)
    ensure_bucket(s3, bucket)
    for table, (path, name) in files.items():
        key = f"{prefix}/{table}/{name}"
        try:
            s3.head_object(Bucket=bucket, Key=key)  # staged by an earlier run: same bytes
        except s3.exceptions.ClientError:
            s3.upload_file(str(path), bucket, key)
    return {table: f"s3://{bucket}/{prefix}/{table}/" for table in files}


def has_current_dataset(config: Config, s3) -> bool:
    """Whether the landing prefixes hold any claims (a run's Ingest accepted data here)."""
    bucket = default_bucket(config)
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{LANDING}/claims/", MaxKeys=1)
    except s3.exceptions.NoSuchBucket:
        return False
    return bool(listed.get("KeyCount"))


def add_batch(config: Config, s3, claims, customers, label: str) -> dict[str, str]:
    """Add a batch of new policies (frames in the raw schema) to the current dataset."""
    import io

    bucket = default_bucket(config)
    ensure_bucket(s3, bucket)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for table, frame in (("claims", claims), ("customers", customers)):
        body = io.StringIO()
        frame.to_csv(body, index=False)
        s3.put_object(Bucket=bucket, Key=f"{LANDING}/{table}/{label}-{stamp}.csv", Body=body.getvalue().encode())
    return landing_uris(config)


def role_arn(config: Config, logical_id: str = ROLE) -> str:
    """The ARN of a role of infra/ml-gateway.yaml (by logical id) in the local account."""
    from localcloud.iam.template import role_arn as template_role_arn

    return template_role_arn(logical_id, config.account_id, config.region)


class RunInProgress(Exception):
    """Another `mlgw run` holds this state directory."""


@contextmanager
def exclusive_run(home: Path) -> Iterator[None]:
    """Hold `<home>/run.lock` for one `mlgw run`; RunInProgress if another run holds it.

    Runs on one state directory share its landing prefix (the current dataset), so a second
    run would replace the data the first is training on: it is refused. The lock is an flock,
    released by the kernel when its holder exits, however it exits (kill -9 included).
    """
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunInProgress(
            f"another `mlgw run` (pid {holder}) is running on {home}; it owns "
            "the dataset this run would replace. Wait for it to finish, or give "
            "this run its own state directory with --home"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def run(
    config: Config,
    *,
    policies: int | None,
    seed: int | None,
    claims: str | None,
    customers: str | None,
    parameters: dict[str, str],
    out=None,
    schema: str | None = None,
    once: dict[str, str] | None = None,
) -> ExecutionResult:
    """Start localcloud for config.home if it is not running, then run the pipeline on it
    (execute). RunInProgress when another run is using config.home; ParameterError (naming
    the parameter), SchemaFileError (the file) and images.ImageError (an image whose
    environment cannot be had, naming its definition) before anything starts or is uploaded."""
    from localcloud.sagemaker import images
    from pipelines.ml_gateway.parameters import validate

    validate({**parameters, **(once or {})})
    if schema:  # SchemaFileError (naming the file) before localcloud starts
        from processing import contract

        contract.load(schema)
    # Every image the pipeline's jobs run in: a lookup once built, else built now with progress
    # (not minutes into the run, at the first job naming it).
    for image in images.definitions():
        images.build(image, lambda line: print(line, file=out or sys.stdout, flush=True))
    with exclusive_run(config.home):
        return execute(
            daemon.start(config),
            policies=policies,
            seed=seed,
            claims=claims,
            customers=customers,
            parameters=parameters,
            out=out,
            schema=schema,
            once=once,
        )


def current_config(config: Config, s3) -> run_config.RunConfig:
    """The stored run configuration of this localcloud, or the defaults (synthetic data, the
    default contract, the definition's parameters) when none was stored."""
    return run_config.effective(s3, default_bucket(config))


def configure(
    config: Config,
    s3,
    previous: run_config.RunConfig,
    *,
    policies: int | None,
    seed: int | None,
    claims: str | None,
    customers: str | None,
    parameters: dict[str, str],
    schema: str | None,
) -> run_config.RunConfig:
    """The configuration `mlgw run` runs: `previous` with what its flags change. Data flags
    replace the data source (--claims/--customers: the user's files; --policies/--seed: the
    generator); none reuse the configured source, so a run after a user-data run trains on
    the user's data again. --schema replaces the contract; --param sets parameters."""
    source = previous.source
    if claims:
        source = run_config.DataSource(
            kind=run_config.FILES, policies=None, seed=None, claims_file=claims, customers_file=customers or ""
        )
    elif policies is not None or seed is not None:
        base = previous.source if previous.source.kind == run_config.SYNTHETIC else run_config.DataSource()
        source = run_config.DataSource(
            policies=policies if policies is not None else base.policies,
            seed=seed if seed is not None else base.seed,
        )
    schema_uri = stage_schema(config, s3, schema) if schema else previous.schema_uri
    changed = dataclasses.replace(previous, source=source, schema_uri=schema_uri)
    from mlgw import mlflow_store

    tracking = mlflow_store.configured(config.home)  # `mlgw mlflow` created a store
    if tracking and "MlflowTrackingUri" not in {**changed.parameters, **parameters}:
        parameters = {**parameters, "MlflowTrackingUri": tracking}
    return run_config.with_parameters(changed, parameters)


def execute(
    config: Config,
    *,
    policies: int | None,
    seed: int | None,
    claims: str | None,
    customers: str | None,
    parameters: dict[str, str],
    out=None,
    schema: str | None = None,
    phases: Phases | None = None,
    once: dict[str, str] | None = None,
) -> ExecutionResult:
    """Run the pipeline on the localcloud already serving `config`, with the stored run
    configuration updated by the flags (configure); `schema` is a data contract file. The
    configuration is stored as a new version once the run's Ingest step accepted its data
    (the data became the current dataset), and the retrain rule and the gateway's function
    environment follow it. `phases` reports the client-side work (SDK import, build, upsert)
    and keeps its durations (default: printed to `out`). `once`: parameters for this execution
    only, never stored in the configuration (the demo's minute-by-minute drift check).
    RunConfigError and ParameterError before anything starts."""
    out = out or sys.stdout
    from pipelines.ml_gateway.parameters import validate
    from processing import contract

    validate({**parameters, **(once or {})})  # ParameterError before anything is uploaded
    os.environ.update(config.client_env())  # the SageMaker SDK reads these at import
    target = Target.local(config)
    session, sm, s3 = target.session, target.client("sagemaker"), target.client("s3")
    stored = run_config.current(s3, default_bucket(config))
    previous = stored or run_config.RunConfig()
    run_cfg = configure(
        config,
        s3,
        previous,
        policies=policies,
        seed=seed,
        claims=claims,
        customers=customers,
        parameters=parameters,
        schema=schema,
    )
    path = run_config.schema_file(s3, run_cfg, config.home / "schemas")
    active = contract.activate(path)  # synthetic data is generated in the configured contract
    run_config.check_feature_groups(sm, run_cfg, active)
    run_config.refuse_replacing_a_test(sm, {**run_cfg.values(), **(once or {})}, {**parameters, **(once or {})})
    if stored is not None and claims is None and policies is None and seed is None and has_current_dataset(config, s3):
        # No data flags: the configured source as it stands now, the current dataset (the data
        # the last accepted run was given plus the batches `mlgw traffic` added since).
        uris = landing_uris(config)
    elif run_cfg.source.kind == run_config.FILES and not claims:  # the configured files, already staged
        uris = {"claims": run_cfg.source.claims_uri, "customers": run_cfg.source.customers_uri}
    else:
        tag = f"-schema{run_cfg.schema_digest}" if run_cfg.schema_digest else ""
        uris = prepare_data(
            config,
            s3,
            run_cfg.source.policies or run_config.DEFAULT_POLICIES,
            run_cfg.source.seed if run_cfg.source.seed is not None else run_config.DEFAULT_SEED,
            claims,
            customers,
            tag,
        )
        if claims:
            run_cfg = dataclasses.replace(
                run_cfg,
                source=dataclasses.replace(run_cfg.source, claims_uri=uris["claims"], customers_uri=uris["customers"]),
            )
    lines = run_config.changes(stored, run_cfg) if stored else []
    if stored is None:
        print(f"configuration: new, data {run_cfg.source.describe()}", file=out)
    elif lines:
        print(
            f"configuration (version {stored.version} → {stored.version + 1} once Ingest accepts the data):", file=out
        )
        for line in lines:
            print(f"  {line}", file=out)
    else:
        print(f"configuration: version {stored.version}, unchanged (data {run_cfg.source.describe()})", file=out)
    if uris == landing_uris(config):
        print("data: the current dataset (the configured source and the batches added since)", file=out)
    inputs = {locations.INPUT_PARAMETERS[t]: uri for t, uri in uris.items()}
    params = {"EndpointName": ENDPOINT_NAME, **run_cfg.pipeline_parameters(inputs), **(once or {})}
    arn = build_upsert_start(config, session, params, phases or Phases(out))
    print(f"started {arn}", file=out, flush=True)
    result = executions.following(target, arn, sm, out=out, step_lines=JobProgress(config))
    commit(config, session, run_cfg, result, reason="mlgw run", out=out)
    print_summary(config, sm, s3, result, out=out)
    return result


def commit(
    config: Config, session, run_cfg: run_config.RunConfig, result: ExecutionResult, reason: str, out=None
) -> run_config.RunConfig | None:
    """Store `run_cfg` as the current configuration when the execution's Ingest step accepted
    its data (its data is then the current dataset, which the configuration must describe),
    then point the retrain rule and the gateway at it. None when Ingest did not succeed: the
    configuration, like the dataset, stays as it was."""
    ingest = next((s for s in result.steps if s.get("StepName") == "Ingest"), None)
    if ingest is None or ingest.get("StepStatus") != "Succeeded":
        return None
    s3 = session.client("s3", endpoint_url=config.url)
    stored = run_config.save(s3, default_bucket(config), run_cfg, reason, execution_arn=result.arn)
    ensure_retrain_rule(config, session, stored)
    publish_function_environment(config, s3, stored)
    if out is not None:
        print(f"configuration version {stored.version} is current (`mlgw config show`)", file=out)
    return stored


def publish_function_environment(
    config: Config, s3, run_cfg: run_config.RunConfig | None = None, schema: str | None = None
) -> None:
    """Write the gateway function's environment for `run_cfg` (default: the current run
    configuration; `schema` a contract file overriding its contract) to the file a running
    gateway applies to its next request (localcloud/apigateway/function_env.py), as Lambda
    applies an UpdateFunctionConfiguration."""
    from localcloud.apigateway.function_env import default_path
    from processing.contract import ENV

    run_cfg = run_cfg or current_config(config, s3)
    env = run_config.function_environment(s3, run_cfg, config.home / "schemas")
    if schema:
        env[ENV] = schema
    path = default_path(config.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(env, indent=2, sort_keys=True))
    partial.replace(path)


def build_upsert_start(config: Config, session, params: dict[str, str], phases: Phases) -> str:
    """What run_pipeline.upsert_and_start does, one phase at a time with progress: the
    execution's ARN. The definitions come from the cache when this code was built before
    (mlgw/definition_cache.py), else from the SDK (seconds to import, seconds to build). The
    caller has checked the parameters (parameters.validate) before anything was uploaded."""
    sm = session.client("sagemaker", endpoint_url=config.url)
    upsert_definition(config, session, PIPELINE_NAME, phases)
    ensure_drift_loop(config, session, params["EndpointName"], phases)
    with phases("starting an execution"):
        return start_execution(sm, PIPELINE_NAME, params)


def upsert_definition(config: Config, session, pipeline_name: str, phases: Phases) -> str:
    """Create or update `pipeline_name` (this project's pipeline) on localcloud; its ARN."""
    from pipelines.ml_gateway.run_pipeline import PIPELINE_DESCRIPTION

    role, bucket = role_arn(config), default_bucket(config)

    def build(boto_session):
        from pipelines.ml_gateway import run_pipeline

        return run_pipeline.build(config.region, role, bucket, pipeline_name, boto_session=boto_session)

    return definition_cache.ensure_pipeline(
        session,
        session.client("s3", endpoint_url=config.url),
        session.client("sagemaker", endpoint_url=config.url),
        name=pipeline_name,
        build_args={"region": config.region, "role": role, "bucket": bucket},
        build=build,
        role_arn=role,
        description=PIPELINE_DESCRIPTION,
        bucket=bucket,
        phases=phases,
    )


def start_execution(sm, pipeline_name: str, parameters: dict[str, str]) -> str:
    """StartPipelineExecution with `parameters` as the SDK's Pipeline.start sends them; the
    execution's ARN."""
    from pipelines.ml_gateway.parameters import validate

    validate(parameters)
    return sm.start_pipeline_execution(
        PipelineName=pipeline_name,
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in parameters.items()],
    )["PipelineExecutionArn"]


class JobProgress:
    """New progress lines of a running processing job, from its local job log: the lines a job
    prints to say what it waits for (BuildDataset's `offline store: ...`) or what it changed
    (Ingest's `current dataset: ...`)."""

    PREFIXES: tuple[str, ...] = ("offline store:", "current dataset:")

    def __init__(self, config: Config):
        self.jobs = config.home / "jobs"
        self.offsets: dict[Path, int] = {}
        self.folders: dict[str, Path | None] = {}

    def __call__(self, step: dict) -> list[str]:
        arn = step.get("Metadata", {}).get("ProcessingJob", {}).get("Arn")
        if not arn or step.get("StepStatus") not in ("Executing", "Succeeded", "Failed"):
            return []
        if step.get("CacheHitResult"):  # reused: the job (and its log) is an earlier execution's
            return []
        name = arn.rsplit("/", 1)[-1]
        if self.folders.get(name) is None:
            self.folders[name] = executions.job_folder(self.jobs, name)
        folder = self.folders[name]
        log = folder / "job.log" if folder else None
        if log is None or not log.exists():
            return []
        start = self.offsets.get(log, 0)
        with open(log, "rb") as f:
            f.seek(start)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offsets[log] = start + len(complete)
        return [line for line in complete.decode(errors="replace").splitlines() if line.startswith(self.PREFIXES)]


def _evaluation(sm, s3, package_arn: str) -> dict | None:
    package = sm.describe_model_package(ModelPackageName=package_arn)
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return None
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def print_summary(config: Config, sm, s3, result: ExecutionResult, out=None) -> None:
    out = out or sys.stdout
    print(f"\nexecution {result.status} in {result.wall_seconds:.1f} s: {result.arn}", file=out)
    if not result.succeeded:
        print(f"reason: {result.failure_reason}", file=out)
        print(f"inspect: mlgw pipeline describe {result.arn}", file=out)
        synthetic = current_config(config, s3).source.kind == run_config.SYNTHETIC
        for line in failure_advice(sm, result, synthetic):
            print(line, file=out)
        _print_left_running(config, out)
        return
    package_arn = next(
        (s["Metadata"]["RegisterModel"]["Arn"] for s in result.steps if "RegisterModel" in s.get("Metadata", {})), None
    )
    if package_arn:
        metrics = (_evaluation(sm, s3, package_arn) or {}).get("binary_classification_metrics", {})
        auc = metrics.get("auc", {}).get("value")
        if auc is not None:
            pr_auc = metrics.get("pr_auc", {}).get("value", float("nan"))
            print(f"test AUC        {auc:.4f}  (PR-AUC {pr_auc:.4f})", file=out)
        print(f"model package   {package_arn}", file=out)
        out.writelines(f"{line}\n" for line in champion_lines(sm, s3, result))
    new_model = next((s for s in result.steps if s.get("StepName") == "CheckNewModel"), {})
    if new_model.get("Metadata", {}).get("Condition", {}).get("Outcome") == "False":
        print(
            "model           the endpoint already serves this model (Train reused from the step cache): "
            "nothing registered or deployed",
            file=out,
        )
    # The endpoint the execution deployed to (its EndpointName parameter).
    from mlgw.execution_report import execution_parameters

    name = execution_parameters(sm, result.arn).get("EndpointName", ENDPOINT_NAME)
    endpoint = sm.describe_endpoint(EndpointName=name)
    print(f"endpoint        {name} ({endpoint['EndpointStatus']}, config {endpoint['EndpointConfigName']})", file=out)
    print(f"traffic         {_traffic_split(sm, endpoint)}", file=out)
    print("\ninvoke it from Python:", file=out)
    for line in _invoke_snippet(config, name):
        print(f"    {line}", file=out)
    _print_left_running(config, out)


def _traffic_split(sm, endpoint: dict) -> str:
    """Each variant's share of traffic and the model package version it serves."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlgw.canary import served_variants
    from processing.job import JobError

    variants = endpoint.get("ProductionVariants", [])
    total = sum(v.get("CurrentWeight", 0) for v in variants) or 1
    try:
        serves = {v.name: v for v in served_variants(sm, endpoint["EndpointName"])}
    except (ClientError, BotoCoreError, JobError):  # the split still prints, without versions
        serves = {}
    parts = []
    for variant in variants:
        served = serves.get(variant["VariantName"])
        label = f" (version {served.version})" if served is not None and served.version else ""
        parts.append(f"{variant['VariantName']} {variant.get('CurrentWeight', 0) / total:.0%}{label}")
    return " · ".join(parts) + (
        "  (a canary: `mlgw endpoint promote` or `rollback` ends it)" if len(variants) > 1 else ""
    )


def _print_left_running(config: Config, out) -> None:
    from mlgw import servers

    print(f"\n{servers.summary(config.home, _mlgw_command(), _home_flag(config))}", file=out)


def _mlgw_command() -> str:
    """How this shell reaches `mlgw`: bare when it is on PATH, else the venv's script."""
    import shutil

    script = Path(sys.executable).with_name("mlgw")
    on_path = shutil.which("mlgw")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "mlgw"
    if not script.exists():
        return "mlgw"
    relative = os.path.relpath(script)
    return str(script) if relative.startswith("..") else relative


def _home_flag(config: Config) -> str:
    """` --home DIR` when a command run from here would not find this state directory itself."""
    from localcloud.config import find_home

    return "" if find_home() == config.home.resolve() else f" --home {shlex.quote(str(config.home))}"


def _port_flag(config: Config) -> str:
    """` --port N` when a command run from here would not use this port itself."""
    return "" if Config(home=config.home).port == config.port else f" --port {config.port}"


def _invoke_snippet(config: Config, endpoint: str) -> list[str]:
    # Never the secret key: output is copied into logs and tickets. The credentials come from
    # the environment `mlgw localcloud env` prints on request.
    return [
        f'# first, in the shell: eval "$({_mlgw_command()} localcloud env{_home_flag(config)}{_port_flag(config)})"'
        "   (endpoint and local credentials)",
        "import boto3",
        f"rt = boto3.client('sagemaker-runtime', endpoint_url='{config.url}', region_name='{config.region}')",
        f"rt.invoke_endpoint(EndpointName='{endpoint}', ContentType='application/json',",
        '                   Body=\'{"instances": [{"incident_severity": "Major", '
        "\"total_claim_amount\": 50000}]}')['Body'].read()",
    ]


# What a drift-triggered retrain runs with: the whole current dataset, deployed as a canary
# beside the model now serving (`mlgw endpoint promote` or `rollback` ends the test).
RETRAIN_STRATEGY = {"DeployStrategy": "canary", "NewVariantWeight": "0.2"}


def ensure_drift_loop(config: Config, session, endpoint: str, phases: Phases | None = None) -> None:
    """What the template makes on AWS, before the run whose Deploy schedules the drift check:
    the DriftCheck pipeline, the drift alarm and the retrain rule."""
    from mlgw import monitor_schedule

    phases = phases or Phases(io.StringIO())  # callers that report no progress
    monitor_schedule.upsert_drift_check(config, session, role_arn(config), default_bucket(config), phases)
    with phases("creating the drift alarms and the retrain rule"):
        monitor_schedule.ensure_alarms(session.client("cloudwatch", endpoint_url=config.url), endpoint)
        ensure_retrain_rule(config, session)


def ensure_retrain_rule(config: Config, session, run_cfg: run_config.RunConfig | None = None) -> str:
    """The EventBridge rule that starts this pipeline when a drift alarm goes to ALARM, with
    `run_cfg`'s parameters (default: the current run configuration's) (every one that differs from the definition's
    default: its contract, feature groups and the user's parameters), on the current dataset
    (the landing prefixes, named as infra/ml-gateway.yaml names them), deployed as
    RETRAIN_STRATEGY says."""
    from mlgw.retrain import ensure_rule

    run_cfg = run_cfg or current_config(config, session.client("s3", endpoint_url=config.url))
    return ensure_rule(
        session.client("events", endpoint_url=config.url),
        config.arn("sagemaker", f"pipeline/{PIPELINE_NAME.lower()}"),
        role_arn(config, RETRAIN_ROLE),
        {**run_cfg.pipeline_parameters(locations.input_parameters(default_bucket(config))), **RETRAIN_STRATEGY},
    )


def upsert_or_start(
    config: Config, action: str, pipeline_name: str, parameters: dict[str, str], print_arn: bool = False
) -> ExecutionResult | None:
    """`mlgw pipeline upsert|start` on localcloud: start runs on the current dataset unless
    parameters say otherwise, and follows the execution unless only the ARN is wanted. A
    followed start is a run like `mlgw run`: it holds the same lock (RunInProgress), so two
    never share the dataset."""
    from contextlib import nullcontext

    from pipelines.ml_gateway.parameters import validate

    validate(parameters)  # before the definition is built and uploaded
    with exclusive_run(config.home) if action == "start" and not print_arn else nullcontext():
        os.environ.update(config.client_env())
        target = Target.local(config)
        session, sm, s3 = target.session, target.client("sagemaker"), target.client("s3")
        # Progress on stderr: stdout is the ARN alone for scripts.
        phases = Phases(sys.stderr)
        arn = upsert_definition(config, session, pipeline_name, phases)
        if action == "upsert":
            # As `--target aws` upserts DriftCheck and the template makes the alarm and the rule.
            ensure_drift_loop(config, session, ENDPOINT_NAME, phases)
            print(arn)
            return None
        # The run configuration on the current dataset; --param overrides it for this execution.
        params = {**current_config(config, s3).pipeline_parameters(), **parameters}
        run_config.refuse_replacing_a_test(sm, params, parameters)
        if print_arn:  # scripts: the bare ARN; the execution goes on by itself
            print(start_execution(sm, pipeline_name, params), flush=True)
            return None
        arn = start_execution(sm, pipeline_name, params)
        print(f"started {arn}", flush=True)
        result = executions.following(target, arn, sm)
    print_summary(config, sm, s3, result)
    return result


def print_executions(config: Config, pipeline_name: str, limit: int = 20, out: TextIO | None = None) -> None:
    """`mlgw pipeline executions` on this localcloud (executions.print_executions)."""
    executions.print_executions(Target.local(config), pipeline_name, limit, out)


def print_execution(config: Config, pipeline_name: str, arn: str | None) -> None:
    """`mlgw pipeline describe` on this localcloud: the steps and each job's log."""
    executions.print_execution(Target.local(config), pipeline_name, arn)


def retry(config: Config, pipeline_name: str, arn: str | None) -> ExecutionResult:
    """`mlgw pipeline retry` on this localcloud: retry `arn` (default: the latest execution),
    follow it, say which steps were reused, then the run's summary."""
    target = Target.local(config)
    sm, s3 = target.client("sagemaker"), target.client("s3")
    arn, before = executions.start_retry(target, pipeline_name, arn, sm)
    result = executions.follow_retry(target, arn, before, sm)
    print_summary(config, sm, s3, result)
    return result
