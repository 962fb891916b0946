"""The gateway Lambda's deployment package, built once: `mlgw build lambda` (infra/README.md step 2).

What goes in is derived, not listed: the handler named by the template's `GatewayFunction`
(infra/ml-gateway.yaml, `Handler: inference.gateway_handler.handler`) and every module of this
project it imports, found by the standard library's `modulefinder` restricted to the checkout
(third-party imports are the runtime's: the python3.11 Lambda runtime ships boto3 and botocore),
plus the data files those modules read at import (`DATA_FILES`). A hand-written list drifted
once: the zip lacked `processing/contract.py` and `processing/schema.json`, and every cold start
failed with ImportError (issue 23).

The zip is reproducible: entries sorted, fixed timestamps and permissions, so the same sources
give the same bytes and the same S3 key (the key is the zip's SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from modulefinder import ModuleFinder
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "ml-gateway.yaml"
FUNCTION = "GatewayFunction"
ZIP_NAME = "gateway-lambda.zip"
# Files a packaged module opens at import or at first use, relative to the checkout:
# processing/contract.py reads the default schema next to itself.
DATA_FILES = ("processing/schema.json",)
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


@dataclass(frozen=True)
class LambdaPackage:
    path: Path  # the zip
    handler: str  # "<module>.<function>", as the template names it
    files: tuple[str, ...]  # archive names, sorted
    sha256: str  # of the zip's bytes

    @property
    def s3_key(self) -> str:
        """A new key per content (the key goes into the Lambda Version's description)."""
        return f"lambda/gateway-{self.sha256[:12]}.zip"


def template_handler(template: Path = TEMPLATE) -> str:
    """The gateway function's Handler in the CloudFormation template."""
    from localcloud.iam.template import load

    return str(load(template)["Resources"][FUNCTION]["Properties"]["Handler"])


def package_files(handler: str, root: Path = ROOT) -> list[str]:
    """Archive names of the handler's module, every project module it imports (transitively)
    and their package `__init__.py` files, and DATA_FILES. FileNotFoundError naming the module
    if the handler's module is not in the checkout."""
    module_name = handler.rpartition(".")[0]
    script = root / (module_name.replace(".", "/") + ".py")
    if not script.is_file():
        raise FileNotFoundError(f"{script}: the template's handler {handler!r} names no module of this checkout")
    finder = ModuleFinder(path=[str(root)])  # project modules only: third-party ones are the runtime's
    finder.run_script(str(script))
    # modulefinder's Module objects carry the file they were found in as __file__.
    files_of = (getattr(module, "__file__", None) for module in finder.modules.values())
    found = {Path(f).resolve() for f in files_of if f}
    files = {p.relative_to(root).as_posix() for p in found if p.is_relative_to(root)}
    parts = module_name.split(".")
    for depth in range(1, len(parts)):  # the handler's own packages (run_script sees it as __main__)
        files.add("/".join(parts[:depth]) + "/__init__.py")
    files.update(DATA_FILES)
    missing = sorted(f for f in files if not (root / f).is_file())
    if missing:
        raise FileNotFoundError(f"files the Lambda package needs are missing: {', '.join(missing)}")
    return sorted(files)


def build(out_dir: Path, root: Path = ROOT, template: Path = TEMPLATE) -> LambdaPackage:
    """Write `<out_dir>/gateway-lambda.zip` (replacing it atomically) and describe it."""
    handler = template_handler(template)
    files = package_files(handler, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ZIP_NAME
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / name).read_bytes())
    partial.replace(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    return LambdaPackage(target, handler, tuple(files), digest)


def source_digest(root: Path = ROOT, template: Path = TEMPLATE) -> str:
    """SHA-256 over the handler's name and every file the package would hold (name and bytes):
    the same sources give the same digest, any change to them a new one."""
    handler = template_handler(template)
    digest = hashlib.sha256(handler.encode() + b"\0")
    for name in package_files(handler, root):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


def cached(cache_dir: Path, root: Path = ROOT, template: Path = TEMPLATE) -> LambdaPackage:
    """The package for the current sources, built by `build` into `<cache_dir>/<source digest>/`
    only when that folder has none yet (built once per content, rebuilt when the sources change)."""
    folder = cache_dir / source_digest(root, template)[:16]
    target = folder / ZIP_NAME
    if target.is_file():
        with zipfile.ZipFile(target) as archive:
            files = tuple(sorted(archive.namelist()))
        return LambdaPackage(target, template_handler(template), files, hashlib.sha256(target.read_bytes()).hexdigest())
    return build(folder, root, template)


def function_document(
    package: LambdaPackage, endpoint_name: str, account: str, region: str, template: Path = TEMPLATE
) -> dict[str, object]:
    """GetFunction's answer for the template's GatewayFunction deployed with `package`
    (https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html): Configuration
    (FunctionName, Runtime, Handler, Timeout in s, MemorySize in MB, Environment.Variables),
    resolved with the parameters' defaults and EndpointName = `endpoint_name`, and Code
    (Location: the zip's path, CodeSha256: hex). What the local gateway runs
    (localcloud/apigateway/function.py). KeyError / TemplateError if the template lacks them."""
    from localcloud.iam.template import Resolver, load

    doc = load(template)
    resolver = Resolver(doc, account, region, {"EndpointName": endpoint_name})
    props = resolver.resolve(doc["Resources"][FUNCTION]["Properties"])
    return {
        "Configuration": {
            "FunctionName": props["FunctionName"],
            "Runtime": props["Runtime"],
            "Handler": props["Handler"],
            "Timeout": int(props.get("Timeout", 3)),  # Lambda's default: 3 s
            "MemorySize": int(props.get("MemorySize", 128)),  # Lambda's default: 128 MB
            "Environment": {
                "Variables": {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
            },
        },
        "Code": {"RepositoryType": "S3", "Location": str(package.path.resolve()), "CodeSha256": package.sha256},
    }


def publish(home: Path, endpoint_name: str, account: str, region: str) -> Path:
    """Build (or reuse) the package for the current sources under `<home>/lambda/` and write the
    function's document to `<home>/apigateway/function.json`, which the local gateway runs
    (`python -m localcloud.apigateway --function`); its path."""
    package = cached(home / "lambda")
    document = function_document(package, endpoint_name, account, region)
    from localcloud.apigateway.function import default_document

    path = default_document(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True))
    partial.replace(path)
    return path
