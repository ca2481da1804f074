"""Temporaries left behind by a process that was killed (kill -9, OOM, power cut) before it could
move or remove them, and their removal.

Every derived file is written to a temporary name and moved into place (recordings.store), so a
killed writer leaves only temporaries, never a half file under a final name:

    derived/**/.<name>.<random>.tmp     MediaStore.atomic_path / atomic_dir (files or folders)
    derived/**/.tmp-<random>.flac       mastering.runner's block-wise output
    cache/**/.<name>.<random>.tmp       an object store's download into its read cache, and its
    etags/**/.<name>.<random>.tmp       ETag note (recordings.s3store; there `tmp/` is the scratch)
    tmp/<anything>                      staging copies, clip work folders, form uploads

Resumable uploads are state, not temporaries: `tmp/tus-*.part` and `tmp/tus/` are never touched.
A temporary is removed only when nothing in it changed for `older_than_s` seconds, because a
live writer (another process sharing the store) keeps touching its file.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

_DERIVED_TEMPORARY = re.compile(r"^\..+\.tmp$|^\.tmp-")
_KEPT_IN_TMP = re.compile(r"^tus-.*\.part$|^tus$")


def _last_change(path: Path) -> float:
    """The newest mtime in `path` (a folder's files count: an encoder adds segments to it)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except FileNotFoundError:
                    continue
    return newest


def find_temporaries(media_root: str | os.PathLike) -> list[Path]:
    """Every temporary under the store at `media_root` (see the module docstring for the names)."""
    root = Path(media_root)
    found: list[Path] = []
    for top in (root / "derived", root / "cache", root / "etags"):
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            for name in list(dirs):
                if _DERIVED_TEMPORARY.match(name):
                    found.append(Path(folder) / name)
                    dirs.remove(name)  # removed as a whole
            found.extend(Path(folder) / n for n in files if _DERIVED_TEMPORARY.match(n))
    tmp = root / "tmp"
    if tmp.is_dir():
        found.extend(p for p in tmp.iterdir() if not _KEPT_IN_TMP.match(p.name))
    return found


def sweep_temporaries(media_root: str | os.PathLike, *, older_than_s: float) -> list[Path]:
    """Remove the temporaries unchanged for `older_than_s` seconds; returns what was removed."""
    cutoff = time.time() - older_than_s
    removed = []
    for path in find_temporaries(media_root):
        try:
            if _last_change(path) > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # its writer finished (or another sweep ran) meanwhile
        removed.append(path)
    return removed
