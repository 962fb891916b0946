"""Where an S3 object's bytes live on disk: an injective map from every valid key to a file path.

S3 keys are flat strings (1 to 1024 UTF-8 bytes, any characters: `d` and `d/e`, `m/` and `m/n`,
`a//b`, `./x`, `../y` are all distinct, coexisting keys; "Naming Amazon S3 objects", Amazon S3
User Guide, https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html). A file
system cannot hold `d` as a file and as a folder at once, so the layout keeps folders and files
in different name spaces and escapes only what a file name cannot carry.

The layout (version 2; `<s3_root>/.layout` records it), for the object `<bucket>/<key>`:
- the key is split at each `/`; every segment but the last is a folder, the last is the file;
- a name is the segment percent-encoded as little as possible: `%`, control characters
  (U+0000-U+001F, U+007F) and a leading `.` are escaped as `%XX` (UTF-8 bytes, upper-case hex);
  everything else (letters, digits, `=`, spaces, unicode...) is kept as it is;
- a folder's name ends with `%2F`, the encoded `/` it stands for: `data/train/part-0.csv` is the
  file `data%2F/train%2F/part-0.csv`, so the key `data` (the file `data`) and the prefix `data/`
  (the folder `data%2F`) never meet; an empty segment's folder (`a//b`) is `%`;
- the empty last segment of a key ending in `/` (a "folder" object such as `m/`) is the file `%+`;
- a name longer than 240 bytes is cut into pieces, each piece but the last a folder whose name
  ends with `%+` ("continued"), so any key fits the 255-byte name limit of every common file
  system.
Reading a path back is `unquote` of each name with `%+` dropped (`%` alone: `/`), concatenated;
`key_of` checks that the names are exactly what `parts_of` would write, so any other file in the
tree (a stray file, a store's `.`-named temporary) is not an object. Names starting with `.` are
never objects: the store keeps its own files (`.mlgw-tmp-*`, `.layout`) under such names.

Why this layout: every key maps to one path and back (no two keys share a file, no key needs a
folder where another key has a file); plain keys stay legible (`runs%2F/<id>%2F/evaluation.json`
reads as the key); the file keeps its own name and extension, so a human can open it.
Not handled: case-insensitive file systems (macOS's default APFS) fold `A` and `a` into one
name; localcloud's state directory is meant to live on a case-sensitive file system.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

VERSION = "2"
DIR_MARK = "%2F"  # a folder: the segment followed by '/'
CONTINUED = "%+"  # a folder holding the rest of a long name
EMPTY_DIR = "%"  # the folder of an empty segment ('a//b')
EMPTY_LEAF = "%+"  # the file of an empty last segment ('m/')
MAX_PIECE_BYTES = 240  # + a 3-byte mark stays below NAME_MAX (255)
TMP_PREFIX = ".mlgw-tmp-"  # a write in progress (never an object: the layout writes no '.' name)
_ESCAPE = re.compile(r"[%\x00-\x1f\x7f]")


def _escape(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode("utf-8"))


def _tokens(segment: str) -> list[str]:
    """The segment's encoded characters: `%XX` escapes or a kept character each."""
    return [_escape(c) if _ESCAPE.match(c) else c for c in segment]


def _pieces(segment: str) -> list[str]:
    """The segment's encoded name, cut into pieces of at most MAX_PIECE_BYTES at character
    boundaries; a piece never starts with '.' (the store's own names do)."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for token in _tokens(segment):
        if not current and token == ".":
            token = "%2E"
        length = len(token.encode("utf-8"))
        if current and size + length > MAX_PIECE_BYTES:
            pieces.append("".join(current))
            current, size = [], 0
            if token == ".":
                token, length = "%2E", 3
        current.append(token)
        size += length
    if current:
        pieces.append("".join(current))
    return pieces


def parts_of(key: str) -> list[str]:
    """The path names (folders, then the file) of a key, relative to its bucket's folder.
    `key` must be a valid key (non-empty, encodable as UTF-8): S3Backend checks it first."""
    segments = key.split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        pieces = _pieces(segment)
        parts += [piece + CONTINUED for piece in pieces[:-1]]
        if index == len(segments) - 1:
            parts.append(pieces[-1] if pieces else EMPTY_LEAF)
        else:
            parts.append(pieces[-1] + DIR_MARK if pieces else EMPTY_DIR)
    return parts


def folder_parts(prefix: str) -> list[str]:
    """The folders every key starting with `prefix` lies under: those of the prefix's complete
    segments (all before its last '/')."""
    if "/" not in prefix:
        return []
    return parts_of(prefix.rsplit("/", 1)[0] + "/x")[:-1]


def _decode(name: str) -> str:
    if name == EMPTY_DIR:
        return "/"
    return unquote(name.removesuffix(CONTINUED), errors="strict")


def _plain_key(parts: list[str]) -> str | None:
    """key_of for the common case, without re-encoding: folders `<name>%2F` and a file `<name>`
    whose names need no escape and no cut. None when any name is not that plain."""
    segments = []
    last = len(parts) - 1
    for index, part in enumerate(parts):
        body = part if index == last else part[:-3] if part.endswith(DIR_MARK) else None
        if not body or _ESCAPE.search(body) or len(body.encode("utf-8")) > MAX_PIECE_BYTES:
            return None
        segments.append(body)
    return "/".join(segments)


def key_of(parts: list[str]) -> str | None:
    """The key whose path names are `parts`, or None when they are not a path parts_of writes
    (a file put there by hand, the store's own files)."""
    if not parts or any(p.startswith(".") for p in parts):
        return None
    plain = _plain_key(parts)
    if plain is not None:
        return plain
    try:
        key = "".join(_decode(p) for p in parts)
    except UnicodeDecodeError:
        return None
    return key if key and parts_of(key) == parts else None


def walk_files(top: Path, *, skip_dot_folders: bool = True) -> Iterator[tuple[str, tuple[str, ...], list[str]]]:
    """(folder, its names relative to `top`, its file names) for every folder under `top`,
    parents before children; without recursion, so a key of 1024 '/' (a folder
    1025 deep) is no RecursionError (os.walk recurses on Python 3.11). Symbolic links are not
    followed."""
    stack: list[tuple[str, tuple[str, ...]]] = [(str(top), ())]
    while stack:
        folder, parts = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        files = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not (skip_dot_folders and entry.name.startswith(".")):
                    stack.append((entry.path, (*parts, entry.name)))
            else:
                files.append(entry.name)
        yield folder, parts, files


def make_folders(path: Path) -> None:
    """`path.mkdir(parents=True, exist_ok=True)` without recursion (see walk_files)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            pass


def remove_tree(top: Path, keep: Callable[[Path], bool] = lambda path: False) -> list[Path]:
    """Delete the files under `top` (but those `keep` says to keep) and then every folder left
    empty, `top` included, without recursion (see walk_files); returns the files kept."""
    folders, kept = [], []
    for folder, _, files in walk_files(top, skip_dot_folders=False):
        folders.append(folder)
        for name in files:
            path = Path(folder, name)
            if keep(path):
                kept.append(path)
            else:
                path.unlink(missing_ok=True)
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            pass
    return kept
