"""The media store: originals named by SHA-256 and never modified, derived files by key.

`MediaStore` is the interface and its local-folder implementation (the embedded default);
`recordings.s3store.S3MediaStore` offers the same methods on an S3-compatible object store.
`open_store(...)` builds the one the settings ask for.

Layout under the store root:
    originals/ab/cd/<sha256><.ext>    content-addressed, read-only once written
    derived/books/<book uuid>/...     masters, HLS, downloads (may be rebuilt)
    derived/books/<book uuid>/hls/<rung>/...    HLS; files named by their content are shared by
                                                every published version that names them
    derived/books/<book uuid>/v/<version>/...   one published version: its playlists and downloads
    tmp/                              partial writes, moved into place with os.replace

Every path handed out is resolved and checked to be inside the root, so a key from a URL or a
database row can never reach a file outside it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

from recordings.errors import N_, MissingMediaError, UnsafeKeyError

CHUNK = 1 << 20


def served_prefix(book_uuid: str, version: str | None = None) -> str:
    """Where readers are served a book's media from: its published version's prefix, or (no
    version: packaged before versions) the unversioned layout."""
    base = f"derived/books/{book_uuid}"
    return f"{base}/v/{version}" if version else base


# HLS files named by a hash of their content (studio.package_hls: segments `c001-<8 hex>-000.m4s`,
# init segments `init-<10 hex>.mp4`): one name is only ever one set of bytes, so a published version
# names them where the encodes placed them instead of keeping its own copy (docs/nginx.conf routes
# the same names the same way).
SHARED_HLS = re.compile(r"^(?:c[0-9]{3,}-[0-9a-f]{8}-[0-9]{3,}\.m4s|init-[0-9a-f]{10}\.mp4)$")


def hls_key(book_uuid: str, version: str | None, rendition: str, name: str) -> str:
    """The key of HLS file `name` of `rendition` as served for `version` (None: the unversioned
    layout): a content-named segment from the book's own hls/ folder, anything else (playlists,
    segments of older encodes) from the version's prefix."""
    folder = served_prefix(book_uuid) if SHARED_HLS.match(name) else served_prefix(book_uuid, version)
    return f"{folder}/hls/{rendition}/{name}"


TEMPORARY_SUFFIXES = (".part", ".tmp")
# Derived media as placed: readable by every user, because nginx's workers (another user than the
# app's, e.g. www-data) send these files themselves in the "x-accel" and "auth-request" modes
# (docs/nginx.conf). The temporary file or folder they are built in is private (mkstemp: 0600,
# mkdtemp: 0700) until it is moved into place. Originals are read-only for everyone (0444).
DERIVED_FILE_MODE = 0o644
DERIVED_DIR_MODE = 0o755


def key_parts(key: str) -> list[str]:
    """The '/'-separated parts of a media key, refused (UnsafeKeyError) when the key is absolute,
    has a scheme or drive, a NUL, an empty, '.' or '..' part: the one check both stores share."""
    if not key or "\x00" in key or key.startswith(("/", "\\")) or ":" in key.split("/")[0]:
        raise UnsafeKeyError(f"Khoá tệp không hợp lệ (invalid media key): {key!r}")
    parts = key.replace("\\", "/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeKeyError(f"Khoá tệp không hợp lệ (invalid media key): {key!r}")
    return parts


def is_temporary(name: str) -> bool:
    """A name that is a write in progress (dot-names, `.part`, `.tmp`), never listed or backed up."""
    return name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES)


def sha256_file(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks (bounded memory)."""
    return sha256_stream(open(path, "rb"), chunk)


def sha256_stream(stream: BinaryIO, chunk: int = CHUNK) -> str:
    """SHA-256 hex digest of what `stream` yields (read in chunks, then closed)."""
    digest = hashlib.sha256()
    with stream as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class MediaStore:
    """A folder holding originals and derived media. `root` is created if missing.

    `root` is always a local folder: here the media themselves; for an object store its local
    scratch and read cache. Code that needs scratch space uses `tmp_dir`."""

    is_remote = False

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        for sub in ("originals", "derived", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"MediaStore({str(self.root)!r})"

    @property
    def tmp_dir(self) -> Path:
        """Local scratch folder (uploads in progress, work files); never a media key."""
        return self.root / "tmp"

    # -- keys and paths -------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The filesystem path for a store key such as 'derived/books/<uuid>/hls/x.m3u8'.

        For reading only (ffmpeg, soundfile, send_file): writes go through `atomic_path`,
        `atomic_dir` or `write_bytes`, which work for both stores. A missing key gives a path that
        does not exist."""
        return inside(self.root, key)

    def exists(self, key: str) -> bool:
        """A file, or a folder (a prefix holding files), at `key`."""
        return self.path(key).exists()

    def open(self, key: str) -> BinaryIO:
        path = self.path(key)
        if not path.is_file():
            raise MissingMediaError(f"Không tìm thấy tệp (missing media): {key}")
        return open(path, "rb")

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def read_many(self, keys: Sequence[str]) -> list[bytes]:
        """`read_bytes` of each key, in order (an object store reads them in parallel)."""
        return [self.read_bytes(key) for key in keys]

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every file under the folder `prefix`, sorted, without temporaries."""
        top = self.path(prefix)
        if not top.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not is_temporary(d))
            for name in sorted(filenames):
                if not is_temporary(name):
                    path = Path(dirpath) / name
                    try:
                        size = path.stat().st_size
                    except FileNotFoundError:  # a folder swapped out meanwhile
                        continue
                    yield path.relative_to(self.root).as_posix(), size

    def presigned_url(self, key: str, expires_s: int, *, filename: str | None = None) -> str | None:
        """A time-limited URL a client fetches the object with, bypassing the app: only an object
        store has them (None here: the app or nginx sends local files)."""
        self.path(key)  # the same refusal of unsafe keys as the object store
        return None

    @staticmethod
    def book_prefix(book_uuid: str) -> str:
        return f"derived/books/{book_uuid}"

    # -- originals --------------------------------------------------------------------------
    def original_key(self, sha256: str, ext: str = "") -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise UnsafeKeyError(f"Mã SHA-256 không hợp lệ (bad sha256): {sha256!r}")
        ext = ext.lower().lstrip(".")
        name = sha256 + (f".{ext}" if ext and ext.isalnum() else "")
        return f"originals/{sha256[:2]}/{sha256[2:4]}/{name}"

    def find_original(self, sha256: str) -> Path:
        folder = self.path(f"originals/{sha256[:2]}/{sha256[2:4]}")
        for candidate in sorted(folder.glob(sha256 + "*")) if folder.is_dir() else []:
            return candidate
        raise MissingMediaError(f"Không tìm thấy bản gốc (missing original): {sha256}")

    def put_original(self, src: str | os.PathLike, *, move: bool = False,
                     expected_sha256: str | None = None) -> tuple[str, str]:
        """Store `src` as an original; returns (sha256, key). Storing the same bytes twice is a no-op.

        The bytes are copied to tmp/ while hashing, checked against `expected_sha256` when given,
        made read-only and moved into place, so a crash never leaves a partial original.
        """
        src = Path(src)
        ext = src.suffix
        if move and src.resolve().parent == (self.root / "tmp"):
            digest = sha256_file(src)
            staged = src
        else:
            staged, digest = self._stage_copy(src)
        try:
            check_expected(digest, expected_sha256)
            key = self.original_key(digest, ext)
            final = self.path(key)
            if final.exists():
                return digest, key
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(staged, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(staged, final)
            _fsync_dir(final.parent)
            return digest, key
        finally:
            if staged.exists() and staged.resolve().parent == (self.root / "tmp"):
                staged.unlink(missing_ok=True)
            if move and src.exists() and src.resolve().parent == (self.root / "tmp"):
                src.unlink(missing_ok=True)

    def _stage_copy(self, src: Path) -> tuple[Path, str]:
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
                while block := fh.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp), digest.hexdigest()

    def iter_originals(self) -> Iterator[tuple[str, Path]]:
        """(sha256 from the name, local path) for every stored original."""
        for path in sorted((self.root / "originals").glob("*/*/*")):
            if path.is_file():
                yield path.name.split(".")[0], path

    # -- derived files ------------------------------------------------------------------------
    @contextmanager
    def atomic_path(self, key: str) -> Iterator[Path]:
        """Yield a temporary path beside `key`'s final place; on success it is moved into place.

        On any error the temporary file is removed and the final name is untouched.
        """
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(final.parent, final.name, lambda tmp: _place(tmp, final)) as tmp:
            yield tmp

    @contextmanager
    def atomic_dir(self, key: str) -> Iterator[Path]:
        """Like atomic_path for a whole folder (e.g. an HLS rendition): built aside, then swapped in."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            yield tmp_path
            _readable(tmp_path)
            if final.exists():
                old = final.with_name(f".{final.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(tmp_path, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp_path, final)
        finally:
            shutil.rmtree(tmp_path, ignore_errors=True)

    def write_bytes(self, key: str, data: bytes) -> Path:
        with self.atomic_path(key) as tmp:
            tmp.write_bytes(data)
        return self.path(key)

    def write_many(self, files: dict[str, bytes]) -> None:
        """Write each derived key's bytes (each atomically; an object store writes them in parallel)."""
        for key in files:
            refuse_original(key)
        for key, data in files.items():
            with self.atomic_path(key) as tmp:
                tmp.write_bytes(data)

    def copy(self, src_key: str, dst_key: str) -> None:
        """Put the bytes of `src_key` under `dst_key` too (atomically). A hard link where the
        filesystem allows: every writer here replaces files (atomic_path, atomic_dir) and never
        rewrites one in place, so the two names can never come to differ."""
        src = self.path(src_key)
        if not src.is_file():
            raise MissingMediaError(f"Không tìm thấy tệp (missing media): {src_key}")
        with self.atomic_path(dst_key) as tmp:
            tmp.unlink()
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)

    def copy_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """`copy` each (source, destination) pair in order: the order is the caller's guarantee
        (playlists after the files they name). An object store overrides this to copy in parallel
        up to its last files."""
        for src_key, dst_key in pairs:
            self.copy(src_key, dst_key)

    def delete(self, key: str) -> None:
        """Remove one derived file (no error when it is missing)."""
        refuse_original(key)
        self.path(key).unlink(missing_ok=True)

    def delete_many(self, keys: Sequence[str]) -> None:
        """`delete` each key (an object store removes up to a thousand in one request); nothing when
        one of them is an original."""
        for key in keys:
            refuse_original(key)
        for key in keys:
            self.delete(key)

    def delete_tree(self, key: str) -> None:
        refuse_original(key)
        shutil.rmtree(self.path(key), ignore_errors=True)


def _readable(path: Path) -> None:
    """`path` (a file, or a folder and everything in it) made readable by the web server's user."""
    if not path.is_dir():
        os.chmod(path, DERIVED_FILE_MODE)
        return
    for folder, _dirs, files in os.walk(path):
        os.chmod(folder, DERIVED_DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), DERIVED_FILE_MODE)


def _place(tmp: Path, final: Path) -> None:
    _readable(tmp)
    os.replace(tmp, final)


@contextmanager
def staged_file(folder: Path, name: str, publish: Callable[[Path], None]) -> Iterator[Path]:
    """A new empty file `.<name>.<random>.tmp` in `folder`, handed to `publish` when the block ends
    without an error (to move or upload it), removed in any case."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        publish(tmp_path)
    finally:
        tmp_path.unlink(missing_ok=True)


def refuse_original(key: str) -> None:
    """Originals are never removed through the store (UnsafeKeyError)."""
    if key_parts(key)[0] == "originals":
        raise UnsafeKeyError(N_("Bản gốc không bao giờ bị xoá: %(key)s"), key=key)


def check_expected(digest: str, expected_sha256: str | None) -> None:
    """ValueError when the SHA-256 a client announced is not that of the bytes received."""
    if expected_sha256 and digest != expected_sha256.lower():
        raise ValueError(f"SHA-256 không khớp (checksum mismatch): expected {expected_sha256}, got {digest}")


def inside(root: Path, key: str) -> Path:
    """`root`/`key` resolved, refused when it leaves `root` (through `..` or a symlink)."""
    candidate = (root / Path(*key_parts(key))).resolve()
    if candidate != root and root not in candidate.parents:
        raise UnsafeKeyError(f"Khoá tệp nằm ngoài kho (key escapes the store): {key!r}")
    return candidate


def open_store(media_root: str | os.PathLike, media_url: str = "", *, endpoint_url: str = "",
               region: str = "us-east-1", cache_dir: str | os.PathLike | None = None) -> MediaStore:
    """The store the settings ask for: `media_url` "" = the folder `media_root`;
    `s3://bucket[/prefix]` = that bucket on the S3-compatible server at `endpoint_url`
    (credentials from the standard AWS variables), with `cache_dir` as local scratch and cache."""
    if not media_url:
        return MediaStore(media_root)
    scheme, _, rest = media_url.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme != "s3" or not bucket:
        raise ValueError(f"MEDIA_URL phải là s3://bucket[/prefix] (MEDIA_URL must be s3://bucket[/prefix]): "
                         f"{media_url!r}")
    from recordings.s3store import S3MediaStore  # boto3 is loaded only when an object store is used
    return S3MediaStore(bucket, prefix, endpoint_url=endpoint_url or None, region=region or "us-east-1",
                        cache_dir=cache_dir or Path(media_root).parent / "media-cache")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
