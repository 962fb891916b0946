"""Container images as localcloud runs them: an environment per image, built from the image's
own definition file and cached.

On AWS a job or an endpoint instance runs in the container image its request names
(CreateProcessingJob's AppSpecification.ImageUri, CreateTrainingJob's
AlgorithmSpecification.TrainingImage, a Model's PrimaryContainer.Image). There is no Docker
here, so localcloud keeps, per image, what a Python job sees of its container: the Python
version and the installed packages. Each image is described by one TOML file (the project's:
processing/image.toml, training/image.toml), the same file the Dockerfile, the buildspec and
the pipeline definition read:

    repository = "sagemaker-xgboost"     # the ECR repository the URI names
    tag = "1.7-1"                        # the tag the URI names
    python = "3.9"                       # the container's Python (major.minor)
    requirements = ["requirements.txt"]  # pip requirement files, relative to the TOML file
    entrypoint = ["python3"]             # the command a script runs with

An image's environment is a venv of that Python with exactly those requirements installed
(`pip install -r`, then `pip check`), built once under the image cache (`MLGW_IMAGE_CACHE`,
default `$XDG_CACHE_HOME/mlgw/images`) in a folder named by the digest of the definition and
its requirement files, so editing either builds a new one and every state directory shares it.
Building takes minutes the first time (progress lines go to the caller); later it is a lookup.

The interpreter is found on PATH (`python3.9`), in pyenv's versions, or among uv's managed
Pythons (with uv on PATH, `uv python install` is tried where none is found: it needs the
network); none to be had is an `ImageError` naming what to install. A URI naming no known image is
refused as SageMaker refuses an image it cannot pull.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# The project's images, as buildspec.yml pushes them to ECR: what a fresh localcloud can pull.
# MLGW_IMAGES (paths joined by os.pathsep) replaces the list.
_PROJECT = Path(__file__).resolve().parents[2]
PROJECT_IMAGES = (_PROJECT / "processing" / "image.toml", _PROJECT / "training" / "image.toml")
IMAGES_ENV = "MLGW_IMAGES"
CACHE_ENV = "MLGW_IMAGE_CACHE"
COMPLETE = ".complete"  # written last: a folder without it is a build that did not finish
# <registry>/<repository>[:<tag>|@sha256:<digest>], as ECR URIs are written
_URI = re.compile(r"\A(?:(?P<registry>[^/]+\.[^/]+)/)?(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[\w.-]+))?\Z")
_FIELDS = {"repository": str, "tag": str, "python": str, "requirements": list, "entrypoint": list}

Progress = Callable[[str], None]


class ImageError(Exception):
    """An image that cannot be run: badly defined, or its environment cannot be built. The
    message says why (a job's FailureReason or an endpoint's shows it)."""


class ImageNotFound(ImageError):
    """No image of that repository and tag is defined locally: what SageMaker reports as an
    image it cannot pull. `uri` is the URI as the request named it."""

    def __init__(self, uri: str, message: str):
        super().__init__(message)
        self.uri = uri


@dataclass(frozen=True)
class Image:
    """One image definition (a TOML file; see the module docstring)."""

    path: Path
    repository: str
    tag: str
    python: str
    requirements: tuple[Path, ...]
    entrypoint: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def digest(self) -> str:
        """SHA-256 (16 hex) of the definition and its requirement files: the environment's key."""
        h = hashlib.sha256(self.path.read_bytes())
        for requirement in self.requirements:
            h.update(b"\0" + requirement.read_bytes())
        return h.hexdigest()[:16]


def load(path: Path) -> Image:
    """Read one image definition. Raises ImageError naming the file and the field at fault."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ImageError(f"image definition {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ImageError(f"image definition {path}: not valid TOML: {exc}") from None
    for field, kind in _FIELDS.items():
        if not isinstance(data.get(field), kind) or not data[field]:
            raise ImageError(f"image definition {path}: field {field!r} must be a non-empty {kind.__name__}")
    if not re.fullmatch(r"3\.\d+", data["python"]):
        raise ImageError(f"image definition {path}: field 'python' must be major.minor, like 3.11")
    requirements = tuple((path.parent / str(r)).resolve() for r in data["requirements"])
    for requirement in requirements:
        if not requirement.is_file():
            raise ImageError(f"image definition {path}: requirements file {requirement} does not exist")
    return Image(
        path.resolve(),
        data["repository"],
        data["tag"],
        data["python"],
        requirements,
        tuple(str(p) for p in data["entrypoint"]),
    )


def definitions() -> list[Image]:
    """Every image localcloud can run: MLGW_IMAGES' files, else the project's."""
    listed = os.environ.get(IMAGES_ENV)
    paths = [Path(p) for p in listed.split(os.pathsep) if p] if listed else list(PROJECT_IMAGES)
    if not paths:
        raise ImageError(f"{IMAGES_ENV}={listed!r} names no image definition file")
    return [load(p) for p in paths]


def resolve(image_uri: str, images: Iterable[Image] | None = None) -> Image:
    """The image an ImageUri names, matched by repository and tag (any registry, as each region
    has its own registry for the same image; a digest matches no tag). Raises ImageNotFound
    (how a caller reports it is the API's: CreateTrainingJob refuses, a processing job fails).
    Raises ImageError for a definition file that cannot be read."""
    match = _URI.match(image_uri.strip())
    if not match:
        raise ImageNotFound(image_uri, f"{image_uri!r} is not a container image URI")
    repository, tag = match["repository"], match["tag"] or "latest"
    known = list(images) if images is not None else definitions()
    for image in known:
        if image.repository == repository and image.tag == tag:
            return image
    raise ImageNotFound(
        image_uri,
        f"no image {repository}:{tag} is defined locally (known: {', '.join(i.name for i in known) or 'none'})",
    )


def cache_dir() -> Path:
    """Where image environments are kept (shared by every state directory)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlgw" / "images"


def environment_dir(image: Image) -> Path:
    return cache_dir() / f"{image.repository.replace('/', '-')}-{image.tag}-{image.digest}"


def _bin(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin")


def built(image: Image) -> Path | None:
    """The interpreter of the image's environment if it is built, else None."""
    root = environment_dir(image)
    return _bin(root) / "python3" if (root / COMPLETE).is_file() else None


def _version(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _candidates(version: str) -> list[str]:
    found = [shutil.which(f"python{version}") or ""]
    if sys.version_info[:2] == tuple(int(p) for p in version.split(".")):
        # this interpreter's base installation, never its venv (whose site-packages it would see)
        found.append(str(Path(sys.base_prefix) / "bin" / f"python{version}"))
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True)
    uv = shutil.which("uv")
    if uv:
        try:
            out = subprocess.run(
                [uv, "python", "find", "--no-project", version],
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            found.append(out.stdout.strip() if out.returncode == 0 else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return [c for c in dict.fromkeys(found) if c]


def _matching(version: str) -> str | None:
    for candidate in _candidates(version):
        if _version(candidate) == version:
            return candidate
    return None


def find_interpreter(version: str, progress: Progress | None = None) -> str:
    """A Python `version` (major.minor) interpreter: on PATH, pyenv's, or uv's managed Pythons;
    when there is none and uv is on PATH, `uv python install VERSION` (which needs the network)
    is tried once. Raises ImageError naming what to install when none can be had."""
    found = _matching(version)
    if found:
        return found
    uv = shutil.which("uv")
    tried = ""
    if uv:
        (progress or (lambda line: None))(
            f"no Python {version} here: installing one with `uv python install {version}`"
        )
        try:
            done = subprocess.run(
                [uv, "python", "install", version],
                capture_output=True,
                text=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
            tried = f"; `uv python install {version}` failed: {done.stderr.strip()[-300:]}" if done.returncode else ""
        except (OSError, subprocess.SubprocessError) as exc:
            tried = f"; `uv python install {version}` failed: {exc}"
        found = _matching(version)
        if found:
            return found
    raise ImageError(
        f"no Python {version} interpreter found (looked for python{version} on PATH, in pyenv's "
        f"versions and among uv's managed Pythons{tried}); install one with `pyenv install {version}` or "
        f"`uv python install {version}`, then run again"
    )


def _pip(python: Path, args: list[str], log: Path, progress: Progress, total: int) -> None:
    cmd = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    seen = 0
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            # pip names each requirement once, as "Collecting" (from an index) or "Processing"
            # (a local file, e.g. a find-links folder)
            verb = next((v for v in ("Collecting ", "Processing ") if line.startswith(v)), None)
            if verb:
                seen += 1
                progress(f"  [{seen}/{total}] {line[len(verb) :].strip()}")
            elif line.startswith(("Successfully installed", "Building wheel")):
                progress("  " + line.strip()[:160])
        if proc.wait() != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise ImageError(f"pip {args[0]} failed (exit {proc.returncode}); see {log}: " + " | ".join(tail))


def _requirement_count(image: Image) -> int:
    count = 0
    for requirement in image.requirements:
        for line in requirement.read_text().splitlines():
            if line.split(" #", 1)[0].strip() and not line.lstrip().startswith(("#", "-")):
                count += 1
    return count


def build(image: Image, progress: Progress | None = None) -> Path:
    """The interpreter of `image`'s environment, building it first if needed (one builder at a
    time per image, across processes: a file lock). `progress` gets one line per step of a
    build. Raises ImageError (no interpreter, pip failing) and leaves no half-built environment
    in use: the folder counts only once its COMPLETE marker is written."""
    ready = built(image)
    if ready is not None:
        return ready
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    root = environment_dir(image)
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = built(image)
        if ready is not None:
            return ready
        try:
            interpreter = find_interpreter(image.python, say)
        except ImageError as exc:
            raise ImageError(f"image {image.name} ({image.path}): {exc}") from None
        total = _requirement_count(image)
        say(f"building image {image.name} (Python {image.python}, {total} pinned packages) in {root}; once only")
        shutil.rmtree(root, ignore_errors=True)
        log = root.parent / f"{root.name}.log"
        log.write_text("")
        try:
            subprocess.run(
                [interpreter, "-m", "venv", str(root)], check=True, capture_output=True, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ImageError(f"cannot create a Python {image.python} venv with {interpreter}: {exc}") from None
        python = _bin(root) / "python3"
        requirements = [part for r in image.requirements for part in ("-r", str(r))]
        _pip(python, ["install", "--progress-bar", "off", *requirements], log, say, total)
        _pip(python, ["check"], log, say, total)
        (root / COMPLETE).write_text(f"{image.path}\n{image.digest}\n")
        say(f"image {image.name} ready: {python}")
        return python


def python(image_uri: str, progress: Progress | None = None) -> str:
    """The interpreter a job or instance naming `image_uri` runs with (see `build`). Raises
    ImageError for an image localcloud does not know or cannot build."""
    return str(build(resolve(image_uri), progress))
