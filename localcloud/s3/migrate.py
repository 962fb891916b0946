"""Moving a state directory's objects from the first layout (the key as a plain path,
`<s3_root>/<bucket>/<key>`) to localcloud.s3.layout's, once, at start.

A user's state directory (`~/.mlgw`) holds their data: after an upgrade it must keep working.
The move is crash-safe and idempotent, so a kill at any moment leaves a state the next start
completes, and no file is ever in a place where it could be read as another key:
1. every object file is renamed from `s3/` into `s3-v2/` (new layout), one by one: a file is
   in the old tree (old layout) or in the new tree (new layout), never ambiguous;
2. `s3-v2/.layout` is written: every object has moved;
3. `s3/` is renamed `s3-v1/`, then `s3-v2/` is renamed `s3/` (whose `.layout` says "done");
4. what is left of `s3-v1/` (empty folders, temporary files of killed writes) is removed; a
   file that was no object (not in a bucket S3 would accept) is kept aside, in
   `s3-v1-not-objects-<pid>/`, and logged.
Renames keep a file's mtime, so the metadata rows (keyed by bucket and key, checked against
size and mtime) still describe the moved files. A lock file keeps two processes from moving
the same tree at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from pathlib import Path

from localcloud.s3.layout import TMP_PREFIX, VERSION, make_folders, parts_of, remove_tree, walk_files

log = logging.getLogger("localcloud")

MARKER = ".layout"
# The bucket names the first layout served (General purpose bucket naming rules).
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _write_marker(folder: Path) -> None:
    tmp = folder / f"{TMP_PREFIX}layout"
    with open(tmp, "w") as f:
        f.write(VERSION + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MARKER)


def _is_current(folder: Path) -> bool:
    try:
        return (folder / MARKER).read_text().strip() == VERSION
    except OSError:
        return False


def migrate_layout(home: Path) -> int:
    """Bring `<home>/s3` to the current layout (see the module docstring); returns how many
    objects were moved (0 when it already was, or for a new state directory)."""
    root, new, old = home / "s3", home / "s3-v2", home / "s3-v1"
    if _is_current(root) and not old.exists():
        return 0
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "s3-layout.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        moved = 0
        if not _is_current(root):
            if not _is_current(new):
                if not new.exists() and (not root.is_dir() or not any(root.iterdir())):
                    root.mkdir(parents=True, exist_ok=True)  # a new state directory
                    _write_marker(root)
                    return 0
                new.mkdir(exist_ok=True)
                moved = _move_objects(root, new)
                _write_marker(new)
            if root.exists():
                os.rename(root, old)
            os.rename(new, root)
            log.info("moved %d S3 object(s) to the current on-disk layout", moved)
        if old.exists():
            _remove_leftovers(old)
        return moved


def _move_objects(source: Path, target: Path) -> int:
    """Rename every object file of the first layout under `source` into `target`."""
    moved = 0
    if not source.is_dir():
        return 0
    for bucket in sorted(os.scandir(source), key=lambda e: e.name):
        if not bucket.is_dir(follow_symlinks=False) or not _BUCKET_RE.fullmatch(bucket.name):
            continue
        (target / bucket.name).mkdir(exist_ok=True)  # an empty bucket is a bucket too
        base = Path(bucket.path)
        for dirpath, folders, filenames in walk_files(base, skip_dot_folders=False):
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                old_path = Path(dirpath, name)
                key = "/".join((*folders, name))
                try:
                    new_path = (target / bucket.name).joinpath(*parts_of(key))
                except UnicodeEncodeError:
                    continue  # a file name that is no UTF-8 text was never a key: kept aside below
                make_folders(new_path.parent)
                os.rename(old_path, new_path)
                moved += 1
    return moved


def _remove_leftovers(old: Path) -> None:
    """Delete the old tree's empty folders and temporary files; keep (and report) anything else."""
    kept = remove_tree(old, keep=lambda path: not path.name.startswith(TMP_PREFIX))
    if kept:
        aside = old.with_name(f"s3-v1-not-objects-{os.getpid()}")
        os.rename(old, aside)
        log.warning(
            "%d file(s) of the old S3 layout were in no bucket; they are kept in %s, e.g. %s",
            len(kept),
            aside,
            kept[0],
        )
