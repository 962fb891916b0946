"""The "image" a local job runs in: an interpreter that sees this venv's third-party packages
(standing in for the container image's) and nothing of this project.

On AWS a processing or training script imports only the image's packages and the code the job
staged under /opt/ml (SAGEMAKER_SUBMIT_DIRECTORY, a `source` input on PYTHONPATH). Locally the
venv also holds this project as an editable install: site-packages has a `.pth` file that
installs a finder mapping `processing`, `localcloud`, ... to the checkout. A job run with the
venv's own interpreter would import our packages from there even when it staged nothing,
which is how a broken staging passed locally and failed on AWS (issue 11, defect 1).

So jobs run with a small venv of their own (created once per state directory, no pip): its
site-packages holds one `image.pth` naming the venv's site-packages directories. Python adds
directories named in a `.pth` file to sys.path but does not read the `.pth` files inside them
(https://docs.python.org/3/library/site.html), so the editable finder is never installed,
while every third-party package (numpy, pandas, xgboost, boto3, PyAthena...) imports as
from the image.

Nothing of the checkout is on the job's path: what a job imports of ours it stages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
import threading
import venv
from pathlib import Path

_LOCK = threading.Lock()


def site_directories() -> list[str]:
    """This interpreter's site-packages directories (the image's packages)."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(str(Path(paths[key])) for key in ("purelib", "platlib")))


def _bin(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin")


def image_python(state_dir: Path) -> str:
    """The image interpreter's path (creating its venv under state_dir/image on first use).
    Keyed by this interpreter and its site directories, so a new venv gets a new image."""
    key = hashlib.sha256("\0".join([sys.executable, *site_directories()]).encode()).hexdigest()[:12]
    root = state_dir / "image" / key
    python = _bin(root) / "python3"
    if python.exists():
        return str(python)
    with _LOCK:
        if python.exists():
            return str(python)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root.parent))
        try:
            venv.EnvBuilder(symlinks=os.name != "nt", with_pip=False, clear=True).create(staging)
            site = Path(sysconfig.get_path("purelib", vars={"base": str(staging), "platbase": str(staging)}))
            site.mkdir(parents=True, exist_ok=True)
            (site / "image.pth").write_text("\n".join(site_directories()) + "\n")
            try:
                staging.rename(root)  # atomic: another process may have won the race
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return str(python)
