"""The run configuration: what defines this deployment's runs, written once, read by every path.

One document holds the data source (the synthetic generator with its size and seed, or the
user's files as staged in S3), the data contract (by its staged, content-addressed S3 URI and
digest) and the pipeline parameters the user chose. Every path builds its pipeline parameters
from it: `mlgw run` (which creates or updates it), `mlgw pipeline start`, the drift → retrain
rule's PipelineParameterList, `mlgw traffic`, the gateway's function environment and the
studio's Start form. So a retrain runs the configuration the user last ran, not the defaults.

Where it lives: in the workflow bucket, as numbered versions
`s3://<bucket>/ml-gateway/run-config/v000001.json`, … (the newest is current), written with
If-None-Match: * so two writers never take the same number. The same layout serves localcloud
and AWS: only the S3 client differs.

Feature groups follow the contract: the default contract (processing/schema.json) uses the
pipeline's default groups (`claims`, `customers`); another contract gets its own groups,
`claims-<digest8>` / `customers-<digest8>`, so a schema change is a new version of the
groups, never a FeatureStore failure after Ingest replaced the data. A user's explicit
ClaimsFeatureGroup / CustomersFeatureGroup parameter wins (and is checked before the run,
check_feature_groups).

No SageMaker SDK import here: the CLI reads this on its fast path.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pipelines.ml_gateway import locations
from pipelines.ml_gateway.parameters import DECLARED, validate

PREFIX = f"{locations.BASE_PREFIX}/run-config"
_VERSION_KEY = re.compile(rf"{re.escape(PREFIX)}/v(\d{{6}})\.json")
# Parameters a configuration does not hold: each run's inputs (a fresh run's staged data or
# the current dataset) and the contract, which the configuration holds as its own field.
PER_RUN = frozenset({"ClaimsInputUri", "CustomersInputUri", "SchemaUri"})
DEFAULT_POLICIES = 5000
DEFAULT_SEED = 42
SYNTHETIC = "synthetic"
FILES = "files"


class RunConfigError(ValueError):
    """A configuration that cannot be stored or used; the message names the setting."""


def defaults() -> dict[str, str]:
    """{parameter: default as text} of the pipeline definition (parameters.DECLARED); the
    bucket-dependent defaults (inputs, SchemaUri) are absent."""
    return {p["Name"]: str(p["DefaultValue"]) for p in DECLARED if p["DefaultValue"] is not None}


@dataclass(frozen=True)
class DataSource:
    """Where a run's data comes from. `kind` "synthetic": the generator (`policies`, `seed`);
    "files": the user's CSVs, staged at `claims_uri` / `customers_uri` (content-addressed S3
    prefixes) from the local files `claims_file` / `customers_file` (for display)."""

    kind: str = SYNTHETIC
    policies: int | None = DEFAULT_POLICIES
    seed: int | None = DEFAULT_SEED
    claims_uri: str = ""
    customers_uri: str = ""
    claims_file: str = ""
    customers_file: str = ""

    def describe(self) -> str:
        if self.kind == SYNTHETIC:
            return f"synthetic ({self.policies:,} policies, seed {self.seed})"
        return f"your files ({self.claims_file}, {self.customers_file}; staged at {self.claims_uri.rsplit('/', 3)[-3]})"


@dataclass(frozen=True)
class RunConfig:
    """One version of the configuration. `schema_uri` "" is the default contract;
    `parameters` the pipeline parameters the user set ({name: text}, checked by
    parameters.validate), without PER_RUN ones. `version` 0: not stored yet."""

    source: DataSource = field(default_factory=DataSource)
    schema_uri: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    version: int = 0
    created: str = ""
    reason: str = ""
    execution_arn: str = ""

    @property
    def schema_digest(self) -> str:
        """The contract's digest (16 hex digits of its SHA-256, from its staged URI); "" for the
        default contract."""
        return self.schema_uri.rsplit("/", 2)[-2] if self.schema_uri else ""

    def feature_groups(self) -> dict[str, str]:
        """{ClaimsFeatureGroup: name, CustomersFeatureGroup: name} this configuration uses."""
        suffix = f"-{self.schema_digest[:8]}" if self.schema_digest else ""
        base = defaults()
        return {
            name: self.parameters.get(name, base[name] + suffix)
            for name in ("ClaimsFeatureGroup", "CustomersFeatureGroup")
        }

    def values(self) -> dict[str, str]:
        """Every parameter this configuration sets for a run, beyond the definition's
        defaults: the user's parameters, the feature groups and the contract; never inputs."""
        out = {**self.parameters, **self.feature_groups()}
        if self.schema_uri:
            out["SchemaUri"] = self.schema_uri
        base = defaults()
        return {k: v for k, v in out.items() if base.get(k) != v}

    def pipeline_parameters(self, inputs: dict[str, str] | None = None) -> dict[str, str]:
        """StartPipelineExecution's parameters {name: text}: values() plus the run's inputs
        {ClaimsInputUri, CustomersInputUri} when given (none: the definition's defaults, the
        current dataset)."""
        return {**(inputs or {}), **self.values()}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        return cls(
            source=DataSource(**data.get("source", {})),
            schema_uri=data.get("schema_uri", ""),
            parameters=dict(data.get("parameters", {})),
            version=int(data.get("version", 0)),
            created=data.get("created", ""),
            reason=data.get("reason", ""),
            execution_arn=data.get("execution_arn", ""),
        )

    def settings(self) -> dict[str, str]:
        """Every setting as text, for show and diff: data source, schema, feature groups, and
        each parameter (its value, or its default)."""
        out = {
            "data source": self.source.describe(),
            "schema": self.schema_uri or "processing/schema.json (the default contract)",
            **self.feature_groups(),
        }
        for name, default in defaults().items():
            if name not in out:
                out[name] = self.parameters.get(name, default)
        return out


def with_parameters(config: RunConfig, changes: dict[str, str], unset: tuple[str, ...] = ()) -> RunConfig:
    """`config` with parameters set (checked: RunConfigError naming the parameter) and unset."""
    from pipelines.ml_gateway.parameters import ParameterError

    per_run = sorted((set(changes) | set(unset)) & PER_RUN)
    if per_run:
        raise RunConfigError(
            f"{', '.join(per_run)} are not configuration: the data source sets the inputs (`mlgw run "
            "--claims/--customers` or `--policies`) and `--schema` the contract"
        )
    try:
        validate({**changes, **{name: defaults().get(name, "") for name in unset if name in defaults()}})
        validate({name: "" for name in unset if name not in defaults()})
    except ParameterError as exc:
        raise RunConfigError(str(exc)) from None
    parameters = {k: v for k, v in {**config.parameters, **changes}.items() if k not in unset}
    return replace(config, parameters=parameters)


def changes(old: RunConfig | None, new: RunConfig) -> list[str]:
    """What differs between two configurations, one line per setting: `NAME: OLD → NEW`."""
    before = (old or RunConfig()).settings()
    after = new.settings()
    return [f"{name}: {before.get(name, '')} → {value}" for name, value in after.items() if before.get(name) != value]


# -- storage ----------------------------------------------------------------------------------


def _versions(s3, bucket: str) -> list[tuple[int, str]]:
    keys: list[tuple[int, str]] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/")
        for page in pages:
            for obj in page.get("Contents", []):
                if m := _VERSION_KEY.fullmatch(obj["Key"]):
                    keys.append((int(m[1]), obj["Key"]))
    except s3.exceptions.NoSuchBucket:
        return []
    return sorted(keys)


def _read(s3, bucket: str, key: str) -> RunConfig:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return RunConfig.from_json(json.loads(body))
    except (ValueError, TypeError, KeyError) as exc:
        raise RunConfigError(f"s3://{bucket}/{key} is not a run configuration: {exc}") from None


def current(s3, bucket: str) -> RunConfig | None:
    """The newest stored configuration; None when none was stored (a fresh state: the
    defaults apply, RunConfig())."""
    versions = _versions(s3, bucket)
    return _read(s3, bucket, versions[-1][1]) if versions else None


def effective(s3, bucket: str) -> RunConfig:
    """The configuration runs use: the newest stored one, else the defaults (synthetic data,
    the default contract, the definition's parameters)."""
    return current(s3, bucket) or RunConfig()


def history(s3, bucket: str) -> list[RunConfig]:
    """Every stored version, oldest first."""
    return [_read(s3, bucket, key) for _, key in _versions(s3, bucket)]


def save(s3, bucket: str, config: RunConfig, reason: str, execution_arn: str = "") -> RunConfig:
    """Store `config` as the next version (unless it equals the current one, which is
    returned unchanged); the stored version. PutObject with If-None-Match: * so a concurrent
    writer's version is never overwritten: the loser retries with the next number."""
    from botocore.exceptions import ClientError

    for _ in range(5):
        latest = current(s3, bucket)
        if latest is not None and _same(latest, config):
            return latest
        version = (latest.version if latest else 0) + 1
        stored = replace(
            config,
            version=version,
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            reason=reason,
            execution_arn=execution_arn,
        )
        try:
            s3.put_object(
                Bucket=bucket,
                Key=f"{PREFIX}/v{version:06d}.json",
                Body=json.dumps(stored.to_json(), indent=2).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
            return stored
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
    raise RunConfigError(f"could not store the run configuration under s3://{bucket}/{PREFIX}/: too many writers")


def _same(a: RunConfig, b: RunConfig) -> bool:
    return (a.source, a.schema_uri, a.parameters) == (b.source, b.schema_uri, b.parameters)


# -- checks a run makes before it starts -------------------------------------------------------


def refuse_replacing_a_test(sm, parameters: dict[str, str], asked: dict[str, str], how: str = "--param") -> None:
    """RunConfigError when the execution's endpoint (its `parameters`, as it would start with
    them) runs a canary or A/B test (more than one variant) and the execution would replace it
    without the user asking for DeployStrategy=replace on this command (`asked`; `how` names
    where they say it: `--param` or the studio's form)."""
    from botocore.exceptions import ClientError

    effective = {**defaults(), **parameters}
    if effective["DeployStrategy"] != "replace" or asked.get("DeployStrategy") == "replace":
        return
    endpoint = effective["EndpointName"]
    try:
        variants = sm.describe_endpoint(EndpointName=endpoint).get("ProductionVariants", [])
    except ClientError:
        return  # no endpoint yet
    if len(variants) > 1:
        names = ", ".join(v["VariantName"] for v in variants)
        raise RunConfigError(
            f"endpoint {endpoint} is running a test between {names}; this run would replace both. End the "
            f"test first (`mlgw endpoint promote` or `rollback`), or ask for it with {how} DeployStrategy=replace "
            "(or canary/ab)"
        )


def check_feature_groups(sm, config: RunConfig, contract) -> None:
    """RunConfigError when a feature group this configuration names exists with features other
    than `contract`'s (processing.contract.Contract) — before Ingest touches the current
    dataset. Groups that do not exist yet are created by the FeatureStore step."""
    from botocore.exceptions import ClientError

    for parameter, name in config.feature_groups().items():
        table = "claims" if parameter == "ClaimsFeatureGroup" else "customers"
        try:
            described = sm.describe_feature_group(FeatureGroupName=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ResourceNotFound", "ResourceNotFoundException"):
                continue
            raise
        have = {d["FeatureName"]: d["FeatureType"] for d in described["FeatureDefinitions"]}
        want = {d["FeatureName"]: d["FeatureType"] for d in contract.feature_definitions(table)}
        if have != want:
            missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
            raise RunConfigError(
                f"feature group {name!r} ({parameter}) exists with other features than this schema's "
                f"(missing {missing or 'none'}, unexpected {extra or 'none'}); leave {parameter} unset so "
                "the schema gets its own groups, choose another name, or delete it "
                f"(`mlgw featurestore delete {name}`)"
            )


def schema_file(s3, config: RunConfig, cache: Path) -> Path | None:
    """The configuration's contract as a local file (downloaded once into
    `cache/<digest>/schema.json`: the URI is content-addressed); None for the default contract."""
    if not config.schema_uri:
        return None
    path = cache / config.schema_digest / "schema.json"
    if not path.exists():
        bucket, _, key = config.schema_uri.removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(body)
        partial.replace(path)
    return path


def function_environment(s3, config: RunConfig, cache: Path) -> dict[str, str]:
    """The gateway function's environment this configuration implies: its feature groups and
    (for a contract other than the default) MLGW_SCHEMA, the contract's local file."""
    groups = config.feature_groups()
    env = {
        "CLAIMS_FEATURE_GROUP": groups["ClaimsFeatureGroup"],
        "CUSTOMERS_FEATURE_GROUP": groups["CustomersFeatureGroup"],
    }
    path = schema_file(s3, config, cache)
    if path is not None:
        from processing.contract import ENV

        env[ENV] = str(path)
    return env
