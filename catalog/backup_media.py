"""The media half of a backup: every file of the store copied with its SHA-256, and put back.

tmp/ and in-progress temporaries (dot-names, `.part`, `.tmp`) are left out; a restore checks every
hash again as it writes each file under a temporary name and moves it into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from catalog.errors import BackupError
from recordings.store import CHUNK, sha256_file

Progress = Callable[[str, int, int], None]  # (phase, done, total)

SKIP_MEDIA_DIRS = ("tmp",)


def copy_hashing(src: Path, dst: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fh, open(dst, "wb") as out:
        while block := fh.read(CHUNK):
            digest.update(block)
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def media_files(root: Path) -> Iterator[Path]:
    """Files of the store, without tmp/ and without in-progress temporaries (dot-names)."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in SKIP_MEDIA_DIRS:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and not name.endswith((".part", ".tmp")):
                yield Path(dirpath) / name


def copy_media_out(root: Path | None, partial: Path, progress: Progress) -> tuple[list[dict], int]:
    files: list[dict] = []
    total = 0
    if root is None or not root.is_dir():
        return files, total
    paths = list(media_files(root))
    out_root = partial / "media"
    for i, path in enumerate(paths, 1):
        rel = path.relative_to(root).as_posix()
        target = out_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            digest, size = copy_hashing(path, target)
        except FileNotFoundError:  # a derived folder swapped out while we walked: not in this backup
            continue
        files.append({"path": rel, "size": size, "sha256": digest})
        total += size
        progress("media", i, len(paths))
    return files, total


def verify_media(src: Path, progress: Progress) -> None:
    """Every file of the backup's manifest is there with its SHA-256."""
    files = json.loads((src / "media-manifest.json").read_text())["files"]
    for i, entry in enumerate(files, 1):
        path = src / "media" / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise BackupError(f"Tệp trong bản sao lưu bị thiếu hoặc sai mã băm (missing or hash mismatch): "
                              f"{entry['path']}")
        progress("verify", i, len(files))


def restore_media(src: Path, media_root: Path, progress: Progress) -> None:
    files = json.loads((src / "media-manifest.json").read_text())["files"]
    for sub in ("originals", "derived", "tmp"):
        (media_root / sub).mkdir(parents=True, exist_ok=True)
    for i, entry in enumerate(files, 1):
        rel = Path(entry["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise BackupError(f"Đường dẫn trong manifest không hợp lệ (unsafe manifest path): {entry['path']}")
        target = media_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            digest, _size = copy_hashing(src / "media" / rel, Path(tmp))
            if digest != entry["sha256"]:
                raise BackupError(f"Mã băm sai khi khôi phục (hash mismatch): {entry['path']}")
            os.chmod(tmp, (src / "media" / rel).stat().st_mode & 0o777 or 0o644)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        progress("media", i, len(files))
