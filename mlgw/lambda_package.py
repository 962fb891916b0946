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
