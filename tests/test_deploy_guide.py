"""infra/README.md's deploy guide is a sequence a person can follow on a fresh account
(issue 11): read top to bottom, every shell variable is set before it is used, every stack
output it reads exists, every `mlgw` command parses with the CLI's own parser, the input CSVs
are uploaded to the pipeline's landing prefixes before the pipeline starts, and the processing
image is built for SageMaker's architecture."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from mlgw.cli import build_parser
from pipelines.ml_gateway import locations
from tests.test_infra import load

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "infra" / "README.md").read_text()
# Set by the shell itself, not by the reader.
SHELL_VARIABLES = {"PATH", "PWD"}
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=")
USE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")


def _steps() -> str:
    """The guide's step-by-step part (up to the optional extras)."""
    return GUIDE.split("## Deploy on a fresh account", 1)[1].split("## Optional", 1)[0]


def _commands(text: str) -> list[str]:
    """The shell commands of the ```sh blocks, in order, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                commands.append(line)
    return commands


def test_every_variable_is_set_before_use():
    defined = set(SHELL_VARIABLES)
    for command in _commands(GUIDE):
        for part in re.split(r"&&|;|\|", command):
            used = {name for name in USE.findall(part)} - defined
            assert not used, f"{sorted(used)} used before it is set, in: {command}"
            match = ASSIGNMENT.match(part)
            if match:
                defined.add(match[1])


def test_every_stack_output_read_exists():
    outputs = set(load(ROOT / "infra" / "ml-gateway.yaml")["Outputs"])
    read = set(re.findall(r"\$\(output (\w+)\)", GUIDE)) | set(re.findall(r"OutputKey=='(\w+)'", GUIDE))
    assert read and read <= outputs, sorted(read - outputs)


def test_every_mlgw_command_parses():
    parser = build_parser()
    found = []
    for command in _commands(GUIDE):
        if command.startswith("mlgw "):
            argv = shlex.split(USE.sub(lambda m: f"<{m[1]}>", command))[1:]
            parser.parse_args(argv)
            found.append(argv[:2])
    assert ["pipeline", "upsert"] in found and ["pipeline", "start"] in found


def test_the_inputs_are_uploaded_to_the_landing_prefixes_before_the_pipeline_starts():
    steps = _commands(_steps())
    start = next(i for i, c in enumerate(steps) if c.startswith("mlgw pipeline start"))
    for table in locations.TABLES:
        prefix = f"s3://$BUCKET/{locations.BASE_PREFIX}/{locations.LANDING}/{table}/"
        uploads = [i for i, c in enumerate(steps) if c.startswith("aws s3 cp") and prefix in c]
        assert uploads and uploads[0] < start, f"no upload to {prefix} before the pipeline starts"
    stack = next(i for i, c in enumerate(steps) if c.startswith("aws cloudformation deploy"))
    bucket = next(i for i, c in enumerate(steps) if c.startswith("BUCKET="))
    assert stack < bucket < start


def test_the_image_is_built_for_amd64_in_the_guide_and_the_buildspec():
    builds = [c for c in _commands(GUIDE) if c.startswith("docker build")]
    assert builds and all("--platform linux/amd64" in c for c in builds)
    buildspec = (ROOT / "buildspec.yml").read_text()
    assert all(
        "--platform linux/amd64" in line
        for line in buildspec.splitlines()
        if "docker build" in line and not line.lstrip().startswith("#")
    )
