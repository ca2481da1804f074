"""The media half of a backup: every file of the store copied with its SHA-256, and put back.

Works on any media store (a local folder or an object store): files are listed and streamed
through the store's own methods (`list`, `open`, `put_original`, `atomic_path`). Scratch space and
in-progress temporaries are not media and are left out; a restore checks every hash again as it
writes each file (an original through `put_original`, which names it by its hash; a derived file
through `atomic_path`, so nothing is published when its hash is wrong).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import BinaryIO, Callable

from catalog.errors import BackupError
from recordings.errors import MissingMediaError, RecordingsError, UnsafeKeyError
from recordings.store import CHUNK, MediaStore, key_parts, sha256_file

Progress = Callable[[str, int, int], None]  # (phase, done, total)

MEDIA_TOPS = ("originals", "derived")  # the store's media; its tmp/ is scratch


def as_store(media: MediaStore | str | os.PathLike) -> MediaStore:
    """A store as given, or the local folder store at a path."""
    return media if isinstance(media, MediaStore) else MediaStore(media)


def copy_hashing(stream: BinaryIO, dst: Path) -> tuple[str, int]:
    """Copy `stream` (closed afterwards) into the new file `dst`, fsynced; returns (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    with stream as fh, open(dst, "wb") as out:
        while block := fh.read(CHUNK):
            digest.update(block)
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def stored_media(store: MediaStore) -> list[tuple[str, int]]:
    """(key, size) of every media file of the store, without scratch space and temporaries."""
    return [item for top in MEDIA_TOPS for item in store.list(top)]


def copy_media_out(store: MediaStore | None, partial: Path, progress: Progress) -> tuple[list[dict], int]:
    files: list[dict] = []
    total = 0
    if store is None:
        return files, total
    listed = stored_media(store)
    out_root = partial / "media"
    for i, (key, _size) in enumerate(listed, 1):
        target = out_root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            digest, size = copy_hashing(store.open(key), target)
        except (MissingMediaError, FileNotFoundError):  # a derived file replaced while we listed
            target.unlink(missing_ok=True)
            continue
        files.append({"path": key, "size": size, "sha256": digest})
        total += size
        progress("media", i, len(listed))
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


def is_empty(media: MediaStore | str | os.PathLike) -> bool:
    """No media file in the store (a folder that does not exist yet is empty, and is not made)."""
    if not isinstance(media, MediaStore) and not Path(media).exists():
        return True
    store = as_store(media)
    return all(next(store.list(top), None) is None for top in MEDIA_TOPS)


def restore_media(src: Path, store: MediaStore, progress: Progress) -> None:
    files = json.loads((src / "media-manifest.json").read_text())["files"]
    for entry in files:  # every path checked before anything is written
        try:
            parts = key_parts(entry["path"])
        except UnsafeKeyError:
            parts = []
        if len(parts) < 2 or parts[0] not in MEDIA_TOPS:
            raise BackupError(f"Đường dẫn trong manifest không hợp lệ (unsafe manifest path): {entry['path']}")
    for i, entry in enumerate(files, 1):
        key, source = entry["path"], src / "media" / entry["path"]
        try:
            if key.startswith("originals/"):
                _sha, stored_key = store.put_original(source, expected_sha256=entry["sha256"])
                if stored_key != key:
                    raise BackupError(f"Bản gốc sai tên (original not named by its hash): {key}")
            else:
                with store.atomic_path(key) as tmp:
                    digest, _size = copy_hashing(open(source, "rb"), tmp)
                    if digest != entry["sha256"]:
                        raise BackupError(f"Mã băm sai khi khôi phục (hash mismatch): {key}")
                    os.chmod(tmp, source.stat().st_mode & 0o777 or 0o644)
        except ValueError as exc:  # put_original: the bytes are not those the manifest names
            raise BackupError(f"Mã băm sai khi khôi phục (hash mismatch): {key}") from exc
        except RecordingsError as exc:
            raise BackupError(f"Không ghi được vào kho tệp (cannot write to the media store) {key}: {exc}") from exc
        progress("media", i, len(files))
