"""The ML Gateway pipeline, defined once with the SageMaker Python SDK (3.x).

Ingest → FeatureStore → BuildDataset → Baseline → Train → Evaluate → (AUC ≥ threshold ?)
RegisterModel + (not worse than the serving model by more than ChampionMargin ? Deploy : end)
: Fail. The definition JSON this produces is what AWS runs and what
the local executor runs; `get_pipeline` needs no network beyond the SageMaker/S3 endpoints
the session points at (localcloud by default), and no AWS credentials locally.

The layout follows the SageMaker Projects model-build template: `get_pipeline(...)` here,
`run_pipeline.py` beside it for CI.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import boto3
from sagemaker.core import image_uris
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.core.workflow.conditions import ConditionEquals, ConditionGreaterThanOrEqualTo, ConditionOr
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig, SourceCode

from pipelines import images
from pipelines.ml_gateway.locations import capture_uri, landing_uri, monitoring_baseline_uri
from pipelines.ml_gateway.parameters import DECLARED
from processing.lineage import PROPERTY_KEYS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCESSING_DIR = PROJECT_ROOT / "processing"
TRAINING_DIR = PROJECT_ROOT / "training"
INFERENCE_DIR = PROJECT_ROOT / "inference"
MONITORING_DIR = PROJECT_ROOT / "monitoring"

# Images, each defined once in its image.toml (read here, by processing/Dockerfile's build in
# buildspec.yml, and by localcloud's job runner, which runs each job in an environment built from
# it): every processing step runs in our processing image (Python 3.11, the scripts' packages,
# PyAthena included, which SageMaker's framework images lack); SageMaker's XGBoost image trains
# (script mode) and serves.
PROCESSING_IMAGE = images.PROCESSING
XGBOOST_IMAGE = images.XGBOOST
XGBOOST_VERSION = XGBOOST_IMAGE["version"]
# The ECR repository (infra/ml-gateway.yaml) that buildspec.yml pushes the processing image to.
PROCESSING_IMAGE_REPOSITORY = PROCESSING_IMAGE["repository"]
PROCESSING_IMAGE_TAG = PROCESSING_IMAGE["tag"]
# Inside a processing container our `processing` package is staged here and put on PYTHONPATH.
SOURCE_MOUNT = "/opt/ml/processing/input/source"
PROCESSING_ROOT = "/opt/ml/processing"
# How long a cached step result stays reusable (ISO 8601 duration, CacheConfig.ExpireAfter).
CACHE_EXPIRE_AFTER = "P30D"


_SDK_CONFIGS_VALID: set[str] = set()


def validate_sdk_config_once() -> None:
    """Make the SDK validate each defaults config once per process, not on every read of it.

    The SDK re-validates its defaults config (here only TelemetryOptOut, get_session) with
    `jsonschema.validate` on every config read, and that call first meta-validates the SDK's
    whole config schema: about 75 reads per build at 0.58 s each, 44 of a build's 49 s
    (cProfile on 2 cores). Validation is a pure function of (config, schema), so the first
    result stands: a config the schema refuses still raises, and every other
    jsonschema.validate call goes through untouched. Idempotent."""
    import jsonschema
    from sagemaker.core.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA as SDK_SCHEMA

    real = jsonschema.validate
    if getattr(real, "sdk_config_once", False):
        return

    def validate(instance, schema, *args, **kwargs):
        if schema is not SDK_SCHEMA or args or kwargs:
            return real(instance, schema, *args, **kwargs)
        key = json.dumps(instance, sort_keys=True, default=repr)
        if key not in _SDK_CONFIGS_VALID:
            real(instance, schema)
            _SDK_CONFIGS_VALID.add(key)
        return None

    validate.sdk_config_once = True
    jsonschema.validate = validate


def get_session(
    region: str, default_bucket: str | None = None, boto_session: boto3.Session | None = None
) -> PipelineSession:
    validate_sdk_config_once()
    boto_session = boto_session or boto3.Session(region_name=region)
    # The SDK reports usage to an AWS-owned S3 endpoint unless opted out; building a
    # definition must not reach the network (locally there is none to reach).
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    return PipelineSession(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker"),
        default_bucket=default_bucket,
        sagemaker_config=config,
    )


# The data contract every step derives from (processing/contract.py reads it).
SCHEMA_FILE = PROCESSING_DIR / "schema.json"


def _stage_source(session: PipelineSession, prefix: str) -> str:
    """Upload the `processing` package (content-addressed) so each processing job can import it.

    Returns the S3 prefix holding the package's files themselves
    (`s3://B/<prefix>/source/<digest>/processing/`): an S3Prefix input lands each object at
    LocalPath + the key's part after the prefix, so with LocalPath
    `/opt/ml/processing/input/source/processing` the files are
    `.../source/processing/*.py` and `PYTHONPATH=/opt/ml/processing/input/source` imports
    `processing` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html).
    The trailing slash keeps a sibling prefix (`processing2/`) out. The default data contract
    (schema.json) travels with the modules."""
    files = sorted([*PROCESSING_DIR.glob("*.py"), SCHEMA_FILE])  # the modules and the default data contract
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    key_prefix = f"{prefix}/source/{digest}"
    s3 = session.boto_session.client("s3")
    bucket = session.default_bucket()
    for path in files:
        s3.upload_file(str(path), bucket, f"{key_prefix}/processing/{path.name}")
    return f"s3://{bucket}/{key_prefix}/processing/"


def _stage_serving_code(session: PipelineSession, prefix: str) -> str:
    """Upload the serving code (inference/serving.py and the feature transform it imports) as
    the sourcedir.tar.gz the XGBoost container loads with SAGEMAKER_SUBMIT_DIRECTORY. The archive
    is byte-for-byte reproducible, so its content-addressed location only moves when code does."""
    members = [
        (INFERENCE_DIR / "serving.py", "serving.py"),
        (PROCESSING_DIR / "__init__.py", "processing/__init__.py"),
        (PROCESSING_DIR / "features.py", "processing/features.py"),
        (PROCESSING_DIR / "contract.py", "processing/contract.py"),
        (SCHEMA_FILE, "processing/schema.json"),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, name in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    archive = gzip.compress(raw.getvalue(), mtime=0)
    digest = hashlib.sha256(archive).hexdigest()[:16]
    key = f"{prefix}/serving/{digest}/sourcedir.tar.gz"
    bucket = session.default_bucket()
    session.boto_session.client("s3").put_object(Bucket=bucket, Key=key, Body=archive)
    return f"s3://{bucket}/{key}"


def caller_account(session: PipelineSession, region: str) -> str:
    """The caller's account (STS GetCallerIdentity through the session, so localcloud and moto
    answer too)."""
    return session.boto_session.client("sts", region_name=region).get_caller_identity()["Account"]


def default_processing_image_uri(session: PipelineSession, region: str) -> str:
    """`{account}.dkr.ecr.{region}.{suffix}/ml-gateway-processing:latest`, the account being the
    caller's."""
    account = caller_account(session, region)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}/{PROCESSING_IMAGE_REPOSITORY}:{PROCESSING_IMAGE_TAG}"


def _s3_input(name: str, source, destination: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source, local_path=destination, s3_data_type="S3Prefix", s3_input_mode="File"
        ),
    )


def _s3_output(name: str, source: str, destination) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name, s3_output=ProcessingS3Output(s3_uri=destination, local_path=source, s3_upload_mode="EndOfJob")
    )


def get_pipeline(
    region: str,
    role: str,
    default_bucket: str | None = None,
    pipeline_name: str = "MLGatewayPipeline",
    model_package_group_name: str = "MLGatewayFraud",
    base_prefix: str = "ml-gateway",
    boto_session: boto3.Session | None = None,
    processing_image_uri: str | None = None,
    drift_check_pipeline_name: str = "DriftCheck",
    events_role_arn: str | None = None,
    endpoint_name: str | None = None,
) -> Pipeline:
    """The pipeline. `processing_image_uri` is the image of every processing step (default:
    this account's ml-gateway-processing:latest in `region`); training and the served model
    use SageMaker's XGBoost image. The `SchemaUri` parameter names the data contract (an S3
    URI of a schema.json; default: processing/schema.json as staged with the code): Ingest,
    FeatureStore, BuildDataset and Baseline read it, and Train puts it in model.tar.gz so the
    endpoint encodes requests with it. Deploy schedules `drift_check_pipeline_name` for the
    endpoint (processing/drift_schedule.py), started by EventBridge as `events_role_arn`
    (on AWS the stack's RetrainRoleArn output, mlgw/aws_run.py; default: the local stack's
    RetrainRole, `ml-gateway-retrain-events`). `endpoint_name`: the EndpointName parameter's
    default (on AWS the stack's EndpointName output)."""
    session = get_session(region, default_bucket, boto_session)
    bucket = session.default_bucket()

    # Declared once (parameters.py) so the CLI checks overrides without building this. The
    # input defaults are the documented landing prefixes (locations.py): the current dataset.
    staged_source = _stage_source(session, base_prefix)
    defaults = {
        "ClaimsInputUri": landing_uri(bucket, "claims", base_prefix),
        "CustomersInputUri": landing_uri(bucket, "customers", base_prefix),
        "SchemaUri": f"{staged_source}{SCHEMA_FILE.name}",
        **({"EndpointName": endpoint_name} if endpoint_name else {}),
    }
    kinds = {"String": ParameterString, "Integer": ParameterInteger, "Float": ParameterFloat}
    declared = {}
    for spec in DECLARED:
        extra = {"enum_values": spec["EnumValues"]} if spec.get("EnumValues") else {}
        declared[spec["Name"]] = kinds[spec["Type"]](
            spec["Name"], default_value=defaults.get(spec["Name"], spec["DefaultValue"]), **extra
        )
    parameters = list(declared.values())
    (
        schema_uri,
        claims_uri,
        customers_uri,
        processing_instance,
        training_instance,
        endpoint_instance,
        claims_group,
        customers_group,
        max_depth,
        eta,
        num_round,
        early_stopping,
        auc_threshold,
        approval_status,
        endpoint_name,
        deploy_strategy,
        new_variant_weight,
        mlflow_uri,
        drift_check_schedule,
        drift_check_window,
    ) = (
        declared[name]
        for name in (
            "SchemaUri",
            "ClaimsInputUri",
            "CustomersInputUri",
            "ProcessingInstanceType",
            "TrainingInstanceType",
            "EndpointInstanceType",
            "ClaimsFeatureGroup",
            "CustomersFeatureGroup",
            "MaxDepth",
            "Eta",
            "NumRound",
            "EarlyStoppingRounds",
            "AucThreshold",
            "ModelApprovalStatus",
            "EndpointName",
            "DeployStrategy",
            "NewVariantWeight",
            "MlflowTrackingUri",
            "DriftCheckSchedule",
            "DriftCheckWindowMinutes",
        )
    )
    account = caller_account(session, region)
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    drift_check_arn = (
        f"arn:{partition}:sagemaker:{region}:{account}:pipeline/"
        f"{drift_check_pipeline_name.lower()}"
    )  # SageMaker lower-cases it
    events_role_arn = events_role_arn or f"arn:{partition}:iam::{account}:role/{base_prefix}-retrain-events"

    def run_prefix(*parts: str):
        return Join(
            on="/",
            values=[f"s3://{bucket}", base_prefix, "executions", ExecutionVariables.PIPELINE_EXECUTION_ID, *parts],
        )

    # The package's own prefix, mounted as SOURCE_MOUNT/processing: importable with
    # PYTHONPATH=SOURCE_MOUNT (see _stage_source).
    source = _s3_input("source", staged_source, f"{SOURCE_MOUNT}/processing")

    def schema_input():
        # --schema-dir PATH: the job activates the contract found there (processing.contract).
        return _s3_input("schema", schema_uri, f"{PROCESSING_ROOT}/input/schema")

    xgboost_image = image_uris.retrieve(XGBOOST_IMAGE["framework"], region, version=XGBOOST_VERSION)

    # One image for every processing step (Evaluate loads the booster with the image's xgboost).
    processor = ScriptProcessor(
        role=role,
        command=list(PROCESSING_IMAGE["entrypoint"]),
        image_uri=processing_image_uri or default_processing_image_uri(session, region),
        instance_count=1,
        instance_type=processing_instance,
        base_job_name="mlgw-processing",
        sagemaker_session=session,
        # botocore reads its region only from AWS_DEFAULT_REGION, which SageMaker does not
        # set in a processing container: the job code's clients get the pipeline's region here.
        env={"PYTHONPATH": SOURCE_MOUNT, "AWS_DEFAULT_REGION": region},
    )
    # Step caching (https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-caching.html): a
    # step is reused when its cache key attributes (its arguments, input URIs, image, hyper-
    # parameters: not its output locations) equal a successful earlier run's within ExpireAfter.
    # Only steps whose result is a function of their input URIs' content are cached: BuildDataset
    # (its input is the FeatureStore step's manifest stored under the digest of the data it
    # ingested, processing/feature_store.py), Baseline and Train. Ingest and FeatureStore always
    # run: Ingest may read the landing prefix, which batches are added to under the same URI,
    # and makes its input the current dataset; FeatureStore writes it into the feature groups
    # the gateway reads. Evaluate and Deploy run every time too (the serving model may differ).
    cache = CacheConfig(enable_caching=False)
    reuse = CacheConfig(enable_caching=True, expire_after=CACHE_EXPIRE_AFTER)

    def processing_step(name: str, script: str | Path, inputs, outputs, arguments, **kwargs) -> ProcessingStep:
        # Each script is told where its inputs and outputs are (`--<name>-dir PATH`), so the
        # same paths are explicit in the definition for SageMaker and the local executor alike.
        folders = [(i.input_name, i.s3_input.local_path) for i in inputs] + [
            (o.output_name, o.s3_output.local_path) for o in outputs
        ]
        folder_args = [part for label, path in folders for part in (f"--{label}-dir", path)]
        args = processor.run(
            code=str(PROCESSING_DIR / script),
            inputs=[source, *inputs],
            outputs=outputs,
            arguments=[*folder_args, *arguments],
        )
        return ProcessingStep(name=name, step_args=args, **{"cache_config": cache, **kwargs})

    ingest = processing_step(
        "Ingest",
        "ingest.py",
        [
            _s3_input("claims", claims_uri, f"{PROCESSING_ROOT}/input/claims"),
            _s3_input("customers", customers_uri, f"{PROCESSING_ROOT}/input/customers"),
            schema_input(),
        ],
        [_s3_output("validated", f"{PROCESSING_ROOT}/output/validated", run_prefix("validated"))],
        # Once every file is accepted, Ingest makes the run's inputs the current dataset (the
        # landing prefixes a retrain reads), unless they already are.
        [
            "--claims-uri",
            claims_uri,
            "--customers-uri",
            customers_uri,
            "--current-claims-uri",
            landing_uri(bucket, "claims", base_prefix),
            "--current-customers-uri",
            landing_uri(bucket, "customers", base_prefix),
        ],
    )

    ingest_manifest = PropertyFile(name="IngestManifest", output_name="manifest", path="manifest.json")
    feature_store = processing_step(
        "FeatureStore",
        "feature_store.py",
        [
            _s3_input(
                "validated",
                ingest.properties.ProcessingOutputConfig.Outputs["validated"].S3Output.S3Uri,
                f"{PROCESSING_ROOT}/input/validated",
            ),
            schema_input(),
        ],
        [_s3_output("manifest", f"{PROCESSING_ROOT}/output/manifest", run_prefix("feature-store"))],
        [
            "--claims-group",
            claims_group,
            "--customers-group",
            customers_group,
            "--offline-store-uri",
            f"s3://{bucket}/{base_prefix}/feature-store",
            "--role-arn",
            role,
            "--ingests-uri",
            f"s3://{bucket}/{base_prefix}/ingests",
        ],
        property_files=[ingest_manifest],
    )

    # The FeatureStore step's manifest (the ingest's event time and record counts): BuildDataset
    # waits for the offline store to hold exactly that ingest (replication is asynchronous).
    build_dataset = processing_step(
        "BuildDataset",
        "build_dataset.py",
        [
            schema_input(),
            _s3_input(
                "manifest",
                # the manifest's copy named by the digest of what was ingested: the cache key
                JsonGet(step_name="FeatureStore", property_file=ingest_manifest, json_path="content_uri"),
                f"{PROCESSING_ROOT}/input/manifest",
            ),
        ],
        [
            _s3_output(name, f"{PROCESSING_ROOT}/output/{name}", run_prefix("dataset", name))
            for name in ("train", "validation", "test")
        ],
        [
            "--claims-group",
            claims_group,
            "--customers-group",
            customers_group,
            "--athena-output",
            f"s3://{bucket}/{base_prefix}/athena",
        ],
        depends_on=[feature_store],
        cache_config=reuse,
    )

    def dataset_uri(name: str):
        return build_dataset.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    # Model Monitor's baseline (statistics.json, constraints.json) from the training split; it
    # travels with the model package as its drift-check baseline.
    baseline = processing_step(
        "Baseline",
        MONITORING_DIR / "baseline.py",
        [_s3_input("train", dataset_uri("train"), f"{PROCESSING_ROOT}/train"), schema_input()],
        [_s3_output("baseline", f"{PROCESSING_ROOT}/baseline", run_prefix("baseline"))],
        [],
        cache_config=reuse,
    )
    baseline_uri = baseline.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri

    trainer = ModelTrainer(
        training_image=xgboost_image,
        role=role,
        sagemaker_session=session,
        source_code=SourceCode(source_dir=str(TRAINING_DIR), entry_script="train.py"),
        compute=Compute(instance_type=training_instance, instance_count=1),
        # HyperParameters is a map of string to string: numeric parameters go in as text
        # (`Std:Join` of one value, the SDK v2 `.to_string()`), else CreateTrainingJob refuses.
        hyperparameters={
            "max_depth": max_depth.to_string(),
            "eta": eta.to_string(),
            "num_round": num_round.to_string(),
            "early_stopping_rounds": early_stopping.to_string(),
        },
        output_data_config=OutputDataConfig(s3_output_path=run_prefix("model")),
        base_job_name="mlgw-train",
    )
    train = TrainingStep(
        name="Train",
        cache_config=reuse,
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name="train", data_source=dataset_uri("train")),
                InputData(channel_name="validation", data_source=dataset_uri("validation")),
                InputData(channel_name="schema", data_source=schema_uri),
            ]
        ),
    )
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")

    def evaluation(path: str) -> JsonGet:
        return JsonGet(step_name="Evaluate", property_file=evaluation_report, json_path=path)

    champion_gate, champion_margin = declared["ChampionGate"], declared["ChampionMargin"]
    # Evaluate scores the new model and re-scores the one EndpointName serves on the same test
    # split (processing/champion.py), and records the model's lineage (processing/lineage.py):
    # the execution, every split's digest and rows, the parameters. It names the execution, so
    # it runs again in every execution (the champion may have changed since).
    evaluate = processing_step(
        "Evaluate",
        "evaluate.py",
        [
            _s3_input("model", model_data, f"{PROCESSING_ROOT}/model"),
            _s3_input("test", dataset_uri("test"), f"{PROCESSING_ROOT}/test"),
            _s3_input("train", dataset_uri("train"), f"{PROCESSING_ROOT}/train"),
            _s3_input("validation", dataset_uri("validation"), f"{PROCESSING_ROOT}/validation"),
        ],
        [_s3_output("evaluation", f"{PROCESSING_ROOT}/evaluation", run_prefix("evaluation"))],
        [
            # one `--flag=value` argument: never an empty container argument when no server is set
            Join(on="", values=["--mlflow-tracking-uri=", mlflow_uri]),
            *(part for name in ("train", "validation", "test") for part in (f"--{name}-uri", dataset_uri(name))),
            "--pipeline-name",
            ExecutionVariables.PIPELINE_NAME,
            "--pipeline-execution-id",
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            "--pipeline-execution-arn",
            ExecutionVariables.PIPELINE_EXECUTION_ARN,
            "--endpoint-name",
            endpoint_name,
            "--model-data-url",
            model_data,
            "--champion-gate",
            champion_gate,
            "--champion-margin",
            champion_margin.to_string(),
            "--approval-status",
            approval_status,
            # every parameter as the execution resolved it, for the lineage (one `NAME=VALUE` each)
            *(
                part
                for spec in DECLARED
                for part in ("--parameter", Join(on="=", values=[spec["Name"], declared[spec["Name"]]]))
            ),
        ],
        property_files=[evaluation_report],
    )

    evaluation_uri = Join(
        on="/",
        values=[evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri, "evaluation.json"],
    )
    model = ModelBuilder(
        image_uri=xgboost_image,
        s3_model_data_url=model_data,
        role_arn=role,
        sagemaker_session=session,
        env_vars={
            "SAGEMAKER_PROGRAM": "serving.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": _stage_serving_code(session, base_prefix),
        },
    )
    register = ModelStep(
        name="RegisterModel",
        step_args=model.register(
            model_package_group_name=model_package_group_name,
            content_types=["application/json", "text/csv"],
            response_types=["application/json", "text/csv"],
            inference_instances=["ml.m5.large", "ml.m5.xlarge"],
            transform_instances=["ml.m5.xlarge"],
            # the parameter's status when the champion gate lets the model deploy, else
            # PendingManualApproval (registered for the record, deployed only if a person decides)
            approval_status=evaluation("champion_gate.approval_status"),
            # the lineage's summary (evaluation.json, which ModelMetrics points at, has all of it)
            customer_metadata_properties={
                "PipelineExecutionArn": ExecutionVariables.PIPELINE_EXECUTION_ARN,
                **{key: evaluation(f"lineage_properties.{key}") for key in PROPERTY_KEYS},
            },
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(content_type="application/json", s3_uri=evaluation_uri)
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=MetricsSource(
                    content_type="application/json", s3_uri=Join(on="/", values=[baseline_uri, "statistics.json"])
                ),
                model_data_constraints=MetricsSource(
                    content_type="application/json", s3_uri=Join(on="/", values=[baseline_uri, "constraints.json"])
                ),
            ),
            description="XGBoost fraud model trained by the ML Gateway pipeline",
        ),
    )

    deploy = processing_step(
        "Deploy",
        "deploy.py",
        [],
        [],
        [
            "--model-package-arn",
            register.properties.ModelPackageArn,
            "--endpoint-name",
            endpoint_name,
            "--instance-type",
            endpoint_instance,
            "--strategy",
            deploy_strategy,
            "--new-variant-weight",
            new_variant_weight.to_string(),
            "--role-arn",
            role,
            "--data-capture-uri",
            capture_uri(bucket, base_prefix),
            "--baseline-uri",
            baseline_uri,
            "--monitoring-baseline-uri",
            monitoring_baseline_uri(bucket, base_prefix),
            "--drift-check-pipeline-arn",
            drift_check_arn,
            "--drift-check-role-arn",
            events_role_arn,
            "--drift-check-schedule",
            drift_check_schedule,
            "--drift-check-window-minutes",
            drift_check_window.to_string(),
        ],
    )

    auc = evaluation("binary_classification_metrics.auc.value")
    auc_text = evaluation("display.auc")  # the AUC rounded to 4 places, as text
    fail = FailStep(
        name="AucBelowThreshold",
        error_message=Join(
            on="",
            values=[
                "Test AUC ",
                auc_text,
                " is below the threshold ",
                auc_threshold,
                "; no model registered, the endpoint is unchanged.",
            ],
        ),
    )
    # The champion gate: Deploy only if the new model's AUC is at least the serving model's on
    # the same test rows minus ChampionMargin (Evaluate computes both, `auc` and `min_auc`: a
    # pipeline condition cannot subtract; 0 with nothing serving), or ChampionGate=skip. Else
    # the execution ends Succeeded with the model registered and the endpoint unchanged.
    check_champion = ConditionStep(
        name="CheckChampion",
        conditions=[
            ConditionOr(
                conditions=[
                    ConditionEquals(left=champion_gate, right="skip"),
                    ConditionGreaterThanOrEqualTo(
                        left=evaluation("champion_gate.auc"), right=evaluation("champion_gate.min_auc")
                    ),
                ]
            )
        ],
        if_steps=[deploy],
        else_steps=[],
    )
    # A model the endpoint already serves (Train reused from the step cache on identical data
    # and parameters) is neither registered again nor redeployed: the run ends Succeeded.
    check_new = ConditionStep(
        name="CheckNewModel",
        conditions=[ConditionEquals(left=evaluation("champion_gate.model"), right="new")],
        if_steps=[register, check_champion],
        else_steps=[],
    )
    check = ConditionStep(
        name="CheckAuc",
        conditions=[ConditionGreaterThanOrEqualTo(left=auc, right=auc_threshold)],
        if_steps=[check_new],
        else_steps=[fail],
    )

    return Pipeline(
        name=pipeline_name,
        parameters=parameters,
        steps=[ingest, feature_store, build_dataset, baseline, train, evaluate, check],
        sagemaker_session=session,
    )
