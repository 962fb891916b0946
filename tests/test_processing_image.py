"""The processing image (processing/Dockerfile + processing/requirements.txt) against what the
processing scripts import and what the tests run with, and its wiring: the pipeline puts it on
every processing step, buildspec.yml builds and passes it, the stack has its ECR repository.
No docker, no network: the image is checked through the files it is built from."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from localcloud.config import ACCOUNT_ID
from tests.test_infra import MAIN as TEMPLATE_PATH
from tests.test_infra import iam_statements, load
from tests.test_pipeline_definition import BUCKET, ROLE, _steps

ROOT = Path(__file__).resolve().parents[1]
IMAGE_DIR = ROOT / "processing"
DOCKERFILE = IMAGE_DIR / "Dockerfile"
REQUIREMENTS = IMAGE_DIR / "requirements.txt"
LOCK = ROOT / "requirements.lock"

# What runs as a processing job on AWS: every script in processing/ (and what they import from
# our own packages), monitoring/baseline.py (the Baseline step) and monitoring/drift_check.py
# (the DriftCheck pipeline's step).
SCANNED = sorted(IMAGE_DIR.glob("*.py")) + [ROOT / "monitoring" / "baseline.py", ROOT / "monitoring" / "drift_check.py"]
OWN_PACKAGES = {"processing", "monitoring"}

# Imports that never run on AWS, so the image leaves them out: module -> (the functions, as
# "path:function", that may import it, why). Each is checked to be imported there and only there.
LOCAL_ONLY: dict[str, tuple[set[str], str]] = {}

# python:3.11-slim on SageMaker's (x86_64) processing instances, for environment markers.
IMAGE_ENV = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}


def pins(path: Path) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as written, version) for every requirement, read by pip's own
    requirement-file parser, as `pip install -r` in processing/Dockerfile reads it: a `#` starts a
    comment only at a line's start or after whitespace (pip's COMMENT_RE), so `x==1# note` is an
    invalid requirement there and must be here (it once broke the image build on AWS)."""
    from pip._internal.exceptions import InstallationError
    from pip._internal.network.session import PipSession
    from pip._internal.req.constructors import install_req_from_parsed_requirement
    from pip._internal.req.req_file import parse_requirements

    found = {}
    for parsed in parse_requirements(str(path), session=PipSession()):
        try:
            requirement = install_req_from_parsed_requirement(parsed).req
        except InstallationError as exc:
            raise AssertionError(f"{path.name}: pip cannot parse {parsed.requirement!r}: {exc}") from None
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"{path.name}: {parsed.requirement!r} is not pinned with =="
        )
        found[canonicalize_name(requirement.name)] = (requirement.name, specs[0].version)
    return found


def test_pip_refuses_a_comment_without_whitespace(tmp_path):
    """The parser above is pip's: the line that broke the image build is refused here too."""
    bad = tmp_path / "requirements.txt"
    bad.write_text("six==1.16.0   # fine\nopentelemetry-proto==1.45.2# mlflow-skinny\n")
    with pytest.raises(AssertionError, match="pip cannot parse"):
        pins(bad)


IMAGE_PINS = pins(REQUIREMENTS)


# -- requirements.txt --------------------------------------------------------------------------


def test_every_pin_is_the_locked_version():
    lock = pins(LOCK)
    assert IMAGE_PINS, "processing/requirements.txt pins nothing"
    missing = sorted(name for _, (name, _v) in IMAGE_PINS.items() if canonicalize_name(name) not in lock)
    assert not missing, f"not in requirements.lock: {missing}"
    differ = {name: (version, lock[key][1]) for key, (name, version) in IMAGE_PINS.items() if version != lock[key][1]}
    assert not differ, f"image pin != lock pin: {differ}"


def test_requirements_are_closed_under_dependencies():
    """pip must resolve nothing beyond the pins (or it would pick versions the tests never ran):
    every requirement of every pinned package, on the image's platform, is pinned here and
    satisfied by the pin. Metadata comes from the venv, which holds the same versions."""
    problems = []
    for key, (name, version) in IMAGE_PINS.items():
        installed = metadata.version(name)
        assert installed == version, f"venv has {name} {installed}, the image pins {version}"
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate(IMAGE_ENV):
                continue  # an extra, or another platform
            dep = canonicalize_name(req.name)
            if dep not in IMAGE_PINS:
                problems.append(f"{name} needs {req}, not pinned")
            elif not req.specifier.contains(IMAGE_PINS[dep][1], prereleases=True):
                problems.append(f"{name} needs {req}, pinned {IMAGE_PINS[dep][1]}")
    assert not problems, problems


# -- imports on the AWS path -------------------------------------------------------------------


def _imports(path: Path):
    """(module, enclosing function or None) for every import in the file, at any depth."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name if function is None else function)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, function))
                # `from processing import athena` imports a submodule of our own package
                if child.module in OWN_PACKAGES:
                    found.extend((f"{child.module}.{a.name}", function) for a in child.names)
            visit(child, function)

    visit(ast.parse(path.read_text(), str(path)), None)
    return found


def third_party_imports() -> dict[str, set[str]]:
    """top-level module -> {"path:function" or "path:<module>"} over SCANNED and every file of
    our own packages they import (transitively)."""
    todo, seen, found = list(SCANNED), set(), {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        where = path.relative_to(ROOT).as_posix()
        for module, function in _imports(path):
            top = module.split(".")[0]
            if top == "__future__" or top in sys.stdlib_module_names:
                continue
            if top in OWN_PACKAGES:
                target = ROOT.joinpath(*module.split("."))
                for candidate in (target.with_suffix(".py"), target / "__init__.py"):
                    if candidate.is_file():
                        todo.append(candidate)
                continue
            found.setdefault(top, set()).add(f"{where}:{function or '<module>'}")
    return found


def test_the_scan_sees_function_level_imports():
    found = third_party_imports()
    # Imported only inside functions: a top-level-only scan would miss all of these.
    assert "processing/athena.py:connect" in found["pyathena"]
    assert {w.split(":")[0] for w in found["xgboost"]} == {"processing/evaluate.py"}
    assert "processing/evaluate.py:<module>" not in found["xgboost"]
    assert any(w.startswith("processing/build_dataset.py:") for w in found["sklearn"])
    assert "processing/schema.py:_to_float" in found["pyarrow"]


def test_local_only_imports_stay_on_the_local_path():
    found = third_party_imports()
    for module, (allowed, reason) in LOCAL_ONLY.items():
        assert reason
        # exactly where declared: moved onto the AWS path (or top level) it would need the image
        assert found.get(module) == allowed, (
            f"{module} is imported at {sorted(found.get(module, ()))}, declared local-only at "
            f"{sorted(allowed)}: update LOCAL_ONLY or add it to processing/requirements.txt"
        )


def test_every_import_on_the_aws_path_is_in_the_image():
    distributions = metadata.packages_distributions()
    missing = {}
    for module, where in sorted(third_party_imports().items()):
        if module in LOCAL_ONLY:
            continue
        provided_by = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert provided_by, f"{module} (imported at {sorted(where)}) is not installed in the venv"
        if not provided_by & IMAGE_PINS.keys():
            missing[module] = (sorted(provided_by), sorted(where))
    assert not missing, f"imported on AWS but not in processing/requirements.txt: {missing}"


def test_local_only_packages_are_not_in_the_image():
    # duckdb is in the image: the DriftCheck step reads captured traffic with it.
    assert {"sqlglot", "sagemaker"}.isdisjoint(IMAGE_PINS)


# -- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in map(str.strip, text.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_takes_its_python_from_image_toml_and_installs_the_requirements():
    """The Python version is written once, in processing/image.toml (localcloud builds the local
    environment from it): the Dockerfile's base image takes it as a build argument with no
    default, and buildspec.yml passes the file's value."""
    instructions = dockerfile_instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    # Docker's library image from its ECR Public mirror, not Docker Hub (CodeBuild's pull limits).
    assert len(froms) == 1 and re.fullmatch(
        r"public\.ecr\.aws/docker/library/python:\$\{PYTHON_VERSION\}-slim(-\w+)?", froms[0]
    ), froms
    assert ("ARG", "PYTHON_VERSION") in instructions  # no default: a build without it fails
    buildspec = (Path(__file__).resolve().parents[1] / "buildspec.yml").read_text()
    assert '["python"]' in buildspec and '--build-arg PYTHON_VERSION="$PROCESSING_PYTHON_VERSION"' in buildspec
    copies = [arg.split() for op, arg in instructions if op == "COPY"]
    assert ["requirements.txt", "/tmp/requirements.txt"] in copies
    # buildspec.yml builds with processing/ as the context: every COPY source is in it
    for *sources, _dest in copies:
        for source in sources:
            assert (IMAGE_DIR / source).exists(), f"COPY {source}: not in processing/"
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert re.search(r"pip install [^&]*--no-cache-dir[^&]*-r /tmp/requirements\.txt", runs), runs
    assert not re.search(r"apt-get install|build-essential|gcc", runs), "no build tools in the image"
    # SageMaker runs ["python3", script]: nothing may replace the base image's python3
    assert not any(op == "ENTRYPOINT" for op, _ in instructions)


# -- pipeline definition -----------------------------------------------------------------------

IMAGE = f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/ml-gateway-processing:0123456789abcdef"
PROCESSING_STEPS = {"Ingest", "FeatureStore", "BuildDataset", "Baseline", "Evaluate", "Deploy"}


def build_definition(localcloud, monkeypatch, **kwargs) -> dict[str, dict]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    from pipelines.ml_gateway.run_pipeline import build

    return _steps(json.loads(build("us-east-1", ROLE, BUCKET, "MLGatewayPipeline", **kwargs).definition()))


def test_every_processing_step_runs_in_the_given_image(localcloud, monkeypatch):
    steps = build_definition(localcloud, monkeypatch, processing_image_uri=IMAGE)
    processing = {name for name, step in steps.items() if step["Type"] == "Processing"}
    assert processing == PROCESSING_STEPS
    for name in processing:
        app = steps[name]["Arguments"]["AppSpecification"]
        assert app["ImageUri"] == IMAGE, name
        assert app["ContainerEntrypoint"][0] == "python3", name
    # Training and the registered (served) model keep SageMaker's XGBoost image.
    training_image = steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]
    assert re.fullmatch(r"\d+\.dkr\.ecr\.us-east-1\.amazonaws\.com/sagemaker-xgboost:1\.7-1", training_image)
    (container,) = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"]
    assert container["Image"] == training_image


def test_default_image_is_the_accounts_repository(localcloud, monkeypatch):
    """No URI: the account's ml-gateway-processing:latest, the account from STS (localcloud's)."""
    steps = build_definition(localcloud, monkeypatch)
    images = {steps[name]["Arguments"]["AppSpecification"]["ImageUri"] for name in PROCESSING_STEPS}
    assert images == {f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/ml-gateway-processing:latest"}


def test_default_image_names_the_account_sts_returns():
    from unittest import mock

    from pipelines.ml_gateway.pipeline import default_processing_image_uri

    session = mock.Mock()
    session.boto_session.client.return_value.get_caller_identity.return_value = {"Account": "123456789012"}
    assert (
        default_processing_image_uri(session, "eu-west-1")
        == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-gateway-processing:latest"
    )
    assert session.boto_session.client.call_args.args == ("sts",)


# -- CLI -----------------------------------------------------------------------------------------


def test_the_flag_reaches_the_settings_and_is_refused_where_it_does_nothing(monkeypatch, tmp_path, capsys):
    from mlgw import aws_run
    from mlgw.cli import build_parser, main

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    args = build_parser().parse_args(["pipeline", "upsert", "--target", "aws", "--processing-image-uri", IMAGE])
    assert aws_run.resolve(args).processing_image_uri == IMAGE
    config = tmp_path / "aws.json"
    config.write_text(json.dumps({"processing_image_uri": "from-config:1"}))
    args = build_parser().parse_args(["pipeline", "upsert", "--target", "aws", "--config", str(config)])
    assert aws_run.resolve(args).processing_image_uri == "from-config:1"

    assert main(["pipeline", "start", "--target", "aws", "--processing-image-uri", IMAGE]) == 2
    assert "--processing-image-uri applies to upsert" in capsys.readouterr().err
    assert main(["pipeline", "upsert", "--processing-image-uri", IMAGE, "--home", str(tmp_path)]) == 2
    assert "--processing-image-uri applies to --target aws" in capsys.readouterr().err

    help_text = build_parser()._subparsers._group_actions[0].choices["pipeline"].format_help()
    assert "--processing-image-uri" in help_text and "processing/Dockerfile" in help_text


def test_run_pipeline_entry_point_takes_the_flag(monkeypatch):
    from pipelines.ml_gateway import run_pipeline

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return "arn:aws:sagemaker:us-east-1:1:pipeline/p/execution/x"

    monkeypatch.setattr(run_pipeline, "upsert_and_start", fake)
    assert run_pipeline.main(["--region", "us-east-1", "--role-arn", ROLE, "--processing-image-uri", IMAGE]) == 0
    assert seen["processing_image_uri"] == IMAGE


# -- buildspec.yml -------------------------------------------------------------------------------


def build_commands() -> list[str]:
    return yaml.safe_load((ROOT / "buildspec.yml").read_text())["phases"]["build"]["commands"]


def test_buildspec_builds_the_image_before_upsert_and_passes_it():
    commands = build_commands()
    upsert = next(i for i, c in enumerate(commands) if c.startswith("mlgw pipeline upsert"))
    before = "\n".join(commands[:upsert])
    tag = next(c for c in commands[:upsert] if c.startswith("PROCESSING_IMAGE_TAG="))
    assert all(f"processing/{name}" in tag for name in ("image.toml", "Dockerfile", "requirements.txt"))
    assert "sha256sum" in tag
    # describe-images decides; docker build/push only in the branch where the tag is missing
    assert before.index("aws ecr describe-images") < before.index("docker build")
    assert re.search(r'docker build .*-t "\$PROCESSING_IMAGE_URI".* processing\n', before)
    assert 'docker push "$PROCESSING_IMAGE_URI"' in before
    assert re.search(r'--processing-image-uri "\$PROCESSING_IMAGE_URI"', commands[upsert])
    header = (ROOT / "buildspec.yml").read_text().split("version:")[0]
    assert "privileged mode" in header.lower()


def test_buildspec_tag_is_the_content_hash():
    """The tag command of buildspec.yml, run: a hash of the three files the image is built from."""
    import shutil
    import subprocess

    if not (shutil.which("bash") and shutil.which("sha256sum")):
        pytest.skip("needs bash and sha256sum")
    (tag,) = [c for c in build_commands() if c.startswith("PROCESSING_IMAGE_TAG=")]
    done = subprocess.run(
        ["bash", "-ec", f'{tag}\necho "$PROCESSING_IMAGE_TAG"'], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    digest = hashlib.sha256(
        (IMAGE_DIR / "image.toml").read_bytes() + DOCKERFILE.read_bytes() + REQUIREMENTS.read_bytes()
    ).hexdigest()
    assert done.stdout.strip() == digest[:16]


# -- infra/ml-gateway.yaml -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def template():
    return load(TEMPLATE_PATH)


def test_stack_has_the_processing_repository(template):
    from pipelines.ml_gateway.pipeline import PROCESSING_IMAGE_REPOSITORY

    ((name, repo),) = [(n, r) for n, r in template["Resources"].items() if r["Type"] == "AWS::ECR::Repository"]
    props = repo["Properties"]
    default_project = template["Parameters"]["ProjectName"]["Default"]
    assert props["RepositoryName"]["Fn::Sub"].replace("${ProjectName}", default_project) == PROCESSING_IMAGE_REPOSITORY
    assert props["ImageScanningConfiguration"]["ScanOnPush"] is True
    (rule,) = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan"
    assert rule["selection"]["countNumber"] == 10 and rule["selection"]["tagStatus"] == "any"
    assert rule["action"]["type"] == "expire"
    outputs = {k: v["Value"] for k, v in template["Outputs"].items()}
    assert {"Fn::GetAtt": [name, "RepositoryUri"]} in outputs.values()


def test_execution_role_can_pull_the_processing_image(template):
    repo = next(n for n, r in template["Resources"].items() if r["Type"] == "AWS::ECR::Repository")
    granted = set()
    for where, statement in iam_statements(template):
        if not where.startswith("SageMakerExecutionRole/") or statement.get("Effect") != "Allow":
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for resource in resources:
            for action in actions:
                granted.add((action, json.dumps(resource, sort_keys=True)))
    repo_arn = json.dumps({"Fn::GetAtt": [repo, "Arn"]}, sort_keys=True)
    assert {
        ("ecr:BatchGetImage", repo_arn),
        ("ecr:GetDownloadUrlForLayer", repo_arn),
        ("ecr:GetAuthorizationToken", '"*"'),
    } <= granted
