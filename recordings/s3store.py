"""The media store on S3-compatible object storage (Ceph RGW, MinIO, AWS S3): the one module that
talks to boto3.

The keys and methods are those of `recordings.store.MediaStore` (`originals/ab/cd/<sha256>.ext`,
`derived/books/<uuid>/...`), under an optional prefix in the bucket. `root` is a local folder
(`MEDIA_CACHE_DIR`) holding
    tmp/      scratch: what `atomic_path` / `atomic_dir` yield is built here, then uploaded
    cache/    read cache: `path(key)` downloads here for ffmpeg and soundfile, which need a file
    etags/    the ETag each cached file was downloaded at (a changed object is fetched again)

Writes:
- originals are hashed first (their SHA-256 is their key) and sent with Content-MD5, per part for a
  multipart upload, so the server checks every byte it stores; they are written only when absent
  (HEAD, then PUT with `If-None-Match: *`) and never overwritten. Content-MD5 rather than
  `ChecksumAlgorithm="SHA256"`: Ceph before Squid (Debian 12 ships 16.2) does not check the
  flexible checksums, and boto3 ≥ 1.36 sends a CRC trailer by default that such servers refuse,
  hence `request_checksum_calculation="when_required"`.
- derived files are built locally and uploaded when the `with` block ends without an error
  (large ones as a multipart upload by boto3's transfer manager); nothing is uploaded when it
  raises. A folder uploads its files first and its playlists and `job.json` last, so a reader that
  sees a playlist finds every file it names; files of the previous version that the new one does
  not have are deleted after that.
"""
from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence, cast
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from recordings.errors import N_, MissingMediaError, ObjectStoreError, UnsafeKeyError
from recordings.store import (CHUNK, MediaStore, check_expected, inside, is_temporary, key_parts, refuse_original,
                              staged_file)

MANIFEST_SUFFIXES = (".m3u8", ".json")   # a folder's index files: uploaded after what they name
PRESIGN_MAX_S = 7 * 24 * 3600            # SigV4 refuses longer-lived URLs
# requests in flight at once: they wait on round trips, not on this machine's CPU; 1 200 server-side
# copies on RGW take 7,9 s 8 at a time, 4,9 s 24 at a time, 5,1 s 32 at a time, the same CPU
# (benchmarks/bench_store_parallel.py, docs/benchmarks.md)
PARALLEL_UPLOADS = 24
DELETE_BATCH = 1000                      # keys per DeleteObjects request, S3's limit
SMALL_OBJECT = 4 << 20                   # bytes: a derived file up to this is uploaded from memory
# Content-Type stored with each object, for nginx or a CDN in front of the store and for presigned
# downloads; the standard table (mimetypes) knows all but our audio-only segments and packages
AUDIO_TYPES = {".m4s": "audio/mp4", ".m4b": "audio/mp4", ".m4a": "audio/mp4", ".mp4": "audio/mp4",
               ".audiobook": "application/audiobook+zip"}


class S3MediaStore(MediaStore):
    """`MediaStore` on a bucket. Every method that touches bytes is its own (a test checks it);
    the key helpers (`original_key`, `book_prefix`) are shared."""

    is_remote = True

    def __init__(self, bucket: str, prefix: str = "", *, cache_dir: str | os.PathLike,
                 endpoint_url: str | None = None, region: str = "us-east-1",
                 multipart_threshold: int = 64 << 20, part_size: int = 16 << 20):
        self.bucket = bucket
        self.prefix = "/".join(key_parts(prefix.strip("/"))) if prefix.strip("/") else ""
        self.root = Path(cache_dir).resolve()
        for sub in ("tmp", "cache", "etags"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.multipart_threshold, self.part_size = multipart_threshold, part_size
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 5, "mode": "standard"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          max_pool_connections=2 * PARALLEL_UPLOADS))
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=part_size,
                                       max_concurrency=4)

    def __repr__(self) -> str:
        return f"S3MediaStore(s3://{self.bucket}/{self.prefix})"

    # -- keys -----------------------------------------------------------------------------------
    def _object(self, key: str) -> str:
        name = "/".join(key_parts(key))
        return f"{self.prefix}/{name}" if self.prefix else name

    def _key(self, object_name: str) -> str:
        return object_name[len(self.prefix) + 1:] if self.prefix else object_name

    def _cached(self, key: str) -> Path:
        return inside(self.root / "cache", key)

    def _call(self, method: str, **kwargs) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            raise ObjectStoreError(N_("Kho đối tượng từ chối yêu cầu %(request)s %(key)s: %(reason)s"),
                                   request=method, key=kwargs.get("Key", kwargs.get("Prefix", "")),
                                   reason=_code(exc)) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(N_("Không kết nối được kho đối tượng: %(reason)s"), reason=exc) from exc

    def _head(self, key: str) -> dict | None:
        try:
            return self._call("head_object", Key=self._object(key))
        except ObjectStoreError as exc:
            if _status(exc) == 404:
                return None
            raise

    # -- reading --------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """A local copy of `key` (downloaded into the read cache unless the cached copy is current);
        a path that does not exist when the key is missing. For reading only."""
        cached = self._cached(key)
        if cached.is_dir():  # a prefix, not an object: callers list() it instead
            return cached
        if key.startswith("originals/") and cached.is_file():
            return cached  # immutable, and checked against its hash when it was fetched
        head = self._head(key)
        if head is None:
            cached.unlink(missing_ok=True)
            return cached
        etag_file = inside(self.root / "etags", key)
        if (cached.is_file() and cached.stat().st_size == head["ContentLength"]
                and etag_file.is_file() and etag_file.read_text() == head["ETag"]):
            return cached
        self._download(key, cached)
        return cached

    def _download(self, key: str, dest: Path) -> None:
        """GET `key` into `dest` through a temporary name: size checked against the response, an
        original's bytes against the SHA-256 in its name."""
        response = self._get(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            # only an original's name says what its bytes hash to: derived files are not hashed here
            original = key.startswith("originals/")
            digest, size = hashlib.sha256() if original else None, 0
            with os.fdopen(fd, "wb") as out, response["Body"] as body:
                while block := body.read(CHUNK):
                    if digest is not None:
                        digest.update(block)
                    out.write(block)
                    size += len(block)
            if size != response["ContentLength"]:
                raise ObjectStoreError(N_("Tải về thiếu dữ liệu: %(key)s (%(got)s / %(size)s byte)"),
                                       key=key, got=size, size=response["ContentLength"])
            if digest is not None and digest.hexdigest() != key.rsplit("/", 1)[1].split(".")[0]:
                raise ObjectStoreError(N_("Bản gốc trong kho sai mã SHA-256: %(key)s"), key=key)
            os.replace(tmp, dest)
            _write_text(inside(self.root / "etags", key), response["ETag"])
        finally:
            Path(tmp).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """An object at `key`, or objects under the prefix `key/` (a folder, as for the local store)."""
        if self._head(key) is not None:
            return True
        listed = self._call("list_objects_v2", Prefix=self._object(key) + "/", MaxKeys=1)
        return bool(listed.get("KeyCount"))

    def _get(self, key: str) -> dict:
        """The GET response of `key` (its Body not read yet); MissingMediaError when there is none."""
        try:
            return self._call("get_object", Key=self._object(key))
        except ObjectStoreError as exc:
            if _status(exc) == 404:
                raise MissingMediaError(N_("Không tìm thấy tệp: %(key)s"), key=key) from None
            raise

    def open(self, key: str) -> BinaryIO:
        """The object's bytes as a stream (read in chunks; close it, or use `with`)."""
        return cast(BinaryIO, self._get(key)["Body"])

    def read_many(self, keys: Sequence[str]) -> list[bytes]:
        """Each key's bytes, in order, PARALLEL_UPLOADS requests at a time (a rung's segments: one
        GET after another was a serial wait of a round trip per segment)."""
        if len(keys) <= 1:
            return [self.read_bytes(key) for key in keys]
        with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS, thread_name_prefix="s3") as pool:
            return list(pool.map(self.read_bytes, keys))

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under the folder `prefix`, sorted, without temporaries."""
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._object(prefix) + "/")
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = self._key(item["Key"])
                    if not any(is_temporary(part) for part in key.split("/")):
                        found.append((key, int(item["Size"])))
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(N_("Không liệt kê được kho đối tượng %(prefix)s: %(reason)s"),
                                   prefix=prefix, reason=exc) from exc
        yield from sorted(found)

    def presigned_url(self, key: str, expires_s: int, *, filename: str | None = None) -> str | None:
        """A GET URL signed for `expires_s` seconds (at most 7 days); with `filename` the response
        carries `Content-Disposition: attachment` with that name."""
        params = {"Bucket": self.bucket, "Key": self._object(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self.client.generate_presigned_url("get_object", Params=params,
                                                  ExpiresIn=max(1, min(int(expires_s), PRESIGN_MAX_S)))

    # -- originals ------------------------------------------------------------------------------
    def find_original(self, sha256: str) -> Path:
        self.original_key(sha256)  # refuses a malformed hash
        listed = self._call("list_objects_v2", Prefix=self._object(f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"),
                            MaxKeys=1)
        for item in listed.get("Contents", []):
            return self.path(self._key(item["Key"]))
        raise MissingMediaError(N_("Không tìm thấy bản gốc: %(sha)s"), sha=sha256)

    def iter_originals(self) -> Iterator[tuple[str, Path]]:
        """(sha256 from the name, local copy) for every stored original (downloads them all)."""
        for key, _size in self.list("originals"):
            yield key.rsplit("/", 1)[1].split(".")[0], self.path(key)

    def put_original(self, src: str | os.PathLike, *, move: bool = False,
                     expected_sha256: str | None = None) -> tuple[str, str]:
        """Store `src` as an original; returns (sha256, key). Storing the same bytes twice is a no-op,
        and an original already in the bucket is never written again. With `move`, a source in
        `tmp_dir` is removed afterwards."""
        src = Path(src)
        try:
            size = src.stat().st_size
            part = self.part_size if size > self.multipart_threshold else max(size, 1)
            digest, md5s = _hash_parts(src, part)
            check_expected(digest, expected_sha256)
            key = self.original_key(digest, src.suffix)
            if self._head(key) is None:
                if len(md5s) == 1:
                    self._put_new(key, src, md5s[0], {"sha256": digest})
                else:
                    self._put_new_multipart(key, src, md5s, {"sha256": digest})
            return digest, key
        finally:
            if move and src.exists() and src.resolve().parent == self.tmp_dir:
                src.unlink(missing_ok=True)

    def _put_new(self, key: str, src: Path, md5: bytes, metadata: dict) -> None:
        """One PUT, refused by the server when the bytes do not match `md5` or the key exists."""
        with open(src, "rb") as fh:
            try:
                self._call("put_object", Key=self._object(key), Body=fh, ContentMD5=_b64(md5),
                           IfNoneMatch="*", Metadata=metadata, ContentType=content_type(key))
            except ObjectStoreError as exc:
                if _status(exc) != 412:  # 412: written meanwhile by another writer, with the same bytes
                    raise

    def _put_new_multipart(self, key: str, src: Path, md5s: Sequence[bytes], metadata: dict) -> None:
        """A multipart upload with each part's Content-MD5 (hand-written: boto3's transfer manager
        cannot send a precomputed MD5 per part, and the hashes must come from the pass that named
        the original, so bytes changed since then are refused)."""
        upload = self._call("create_multipart_upload", Key=self._object(key), Metadata=metadata,
                            ContentType=content_type(key))
        upload_id = upload["UploadId"]
        try:
            parts = []
            with open(src, "rb") as fh:
                for number, md5 in enumerate(md5s, 1):
                    data = fh.read(self.part_size)
                    answer = self._call("upload_part", Key=self._object(key), UploadId=upload_id,
                                        PartNumber=number, Body=data, ContentMD5=_b64(md5))
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            if self._head(key) is not None:  # completed meanwhile by another writer
                raise FileExistsError(key)
            self._call("complete_multipart_upload", Key=self._object(key), UploadId=upload_id,
                       MultipartUpload={"Parts": parts})
        except BaseException as exc:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._object(key), UploadId=upload_id)
            if not isinstance(exc, FileExistsError):
                raise

    # -- derived files --------------------------------------------------------------------------
    def _upload(self, key: str, path: Path) -> str:
        """Upload one derived file (overwriting); returns its ETag."""
        size = path.stat().st_size
        if size <= SMALL_OBJECT:  # most are HLS segments: read once, hashed and sent from memory
            return self._put_bytes(key, path.read_bytes())
        if size <= self.multipart_threshold:
            with open(path, "rb") as fh:
                md5 = hashlib.file_digest(fh, lambda: hashlib.md5(usedforsecurity=False)).digest()
                fh.seek(0)
                answer = self._call("put_object", Key=self._object(key), Body=fh, ContentType=content_type(key),
                                    ContentMD5=_b64(md5))
            return answer["ETag"]
        try:
            self.client.upload_file(str(path), self.bucket, self._object(key), Config=self.transfer,
                                    ExtraArgs={"ContentType": content_type(key)})
        except (ClientError, BotoCoreError, boto3.exceptions.S3UploadFailedError) as exc:
            raise ObjectStoreError(N_("Tải lên thất bại: %(key)s: %(reason)s"), key=key, reason=exc) from exc
        head = self._head(key)
        if head is None or head["ContentLength"] != size:
            raise ObjectStoreError(N_("Tải lên không hoàn tất: %(key)s"), key=key)
        return head["ETag"]

    def _put_bytes(self, key: str, body: bytes) -> str:
        """One PUT of `body` as `key`, with its Content-MD5 for the server to check; returns the ETag."""
        answer = self._call("put_object", Key=self._object(key), Body=body, ContentType=content_type(key),
                            ContentMD5=_b64(hashlib.md5(body, usedforsecurity=False).digest()))
        return answer["ETag"]

    def _publish(self, key: str, path: Path) -> None:
        """Upload `path` as `key`, then keep it as the cached copy (no download to read it back)."""
        etag = self._upload(key, path)
        cached = self._cached(key)
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, cached)
        _write_text(inside(self.root / "etags", key), etag)

    @contextmanager
    def atomic_path(self, key: str) -> Iterator[Path]:
        """Yield a local temporary path; uploaded as `key` when the block ends without an error."""
        with staged_file(self.tmp_dir, key_parts(key)[-1], lambda tmp: self._publish(key, tmp)) as tmp:
            yield tmp

    @contextmanager
    def atomic_dir(self, key: str) -> Iterator[Path]:
        """Yield a local temporary folder; uploaded under `key/` when the block ends without an
        error: files first, playlists and `job.json` last, then the previous version's leftovers
        deleted."""
        name = key_parts(key)[-1]
        tmp_path = Path(tempfile.mkdtemp(dir=self.tmp_dir, prefix=f".{name}.", suffix=".tmp"))
        try:
            yield tmp_path
            files = {f"{key}/{p.relative_to(tmp_path).as_posix()}": p
                     for p in sorted(tmp_path.rglob("*")) if p.is_file()}
            for k in files:
                key_parts(k)
            before = {k for k, _size in self.list(key)}
            last = [k for k in files if k.endswith(MANIFEST_SUFFIXES)]
            first = [k for k in files if k not in last]
            self._parallel(lambda k: self._publish(k, files[k]), first)
            for k in last:
                self._publish(k, files[k])
            self.delete_many(sorted(before - set(files)))
        finally:
            shutil.rmtree(tmp_path, ignore_errors=True)

    def copy(self, src_key: str, dst_key: str) -> None:
        """Put `src_key`'s bytes under `dst_key` too, copied inside the store (no bytes through this
        machine; one request up to S3's 5 GB limit for a single copy): how a media version is
        published (studio.media_versions)."""
        if dst_key.startswith("originals/"):
            raise UnsafeKeyError(N_("Bản gốc không bao giờ bị ghi đè: %(key)s"), key=dst_key)
        try:
            self._call("copy_object", Key=self._object(dst_key),
                       CopySource={"Bucket": self.bucket, "Key": self._object(src_key)})
        except ObjectStoreError as exc:
            if _status(exc) == 404:
                raise MissingMediaError(N_("Không tìm thấy tệp: %(key)s"), key=src_key) from None
            raise
        self._cached(dst_key).unlink(missing_ok=True)

    def write_many(self, files: dict[str, bytes]) -> None:
        """Upload each key's bytes from memory, PARALLEL_UPLOADS at a time (a chapter's HLS segments).
        They are not kept in the read cache: nothing on this machine reads them back."""
        for key in files:
            refuse_original(key)

        def write(key: str) -> None:
            self._put_bytes(key, files[key])
            self._cached(key).unlink(missing_ok=True)
        self._parallel(write, list(files))

    def copy_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """`copy` each pair, PARALLEL_UPLOADS at a time, then the playlists and `job.json` files one
        by one in the caller's order (after everything they name). An hour's HLS ladder is thousands
        of objects: one request after another, its copy was a serial tail of half a minute."""
        last = [pair for pair in pairs if pair[1].endswith(MANIFEST_SUFFIXES)]
        first = {dst: src for src, dst in pairs if not dst.endswith(MANIFEST_SUFFIXES)}
        self._parallel(lambda dst: self.copy(first[dst], dst), list(first))
        for src_key, dst_key in last:
            self.copy(src_key, dst_key)

    def delete(self, key: str) -> None:
        """Remove one derived object (no error when it is missing)."""
        refuse_original(key)
        self._call("delete_object", Key=self._object(key))
        cached = self._cached(key)
        if not cached.is_dir():
            cached.unlink(missing_ok=True)

    def delete_many(self, keys: Sequence[str]) -> None:
        """Remove derived objects (no error for missing ones), DELETE_BATCH per request."""
        for key in keys:
            refuse_original(key)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start:start + DELETE_BATCH]
            answer = self._call("delete_objects", Delete={"Objects": [{"Key": self._object(k)} for k in batch],
                                                          "Quiet": True})
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise ObjectStoreError(N_("Kho đối tượng từ chối yêu cầu %(request)s %(key)s: %(reason)s"),
                                       request="delete_objects", key=self._key(error.get("Key", "")),
                                       reason=error.get("Code", ""))
            for key in batch:
                cached = self._cached(key)
                if not cached.is_dir():
                    cached.unlink(missing_ok=True)

    def delete_tree(self, key: str) -> None:
        """Remove the object `key` and every object under `key/`."""
        refuse_original(key)
        self.delete_many([k for k, _size in self.list(key)] + [key])
        shutil.rmtree(self._cached(key), ignore_errors=True)

    def _parallel(self, fn, items: Iterable[str]) -> None:
        items = list(items)
        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS, thread_name_prefix="s3") as pool:
            for _ in pool.map(fn, items):  # re-raises the first error
                pass


def content_type(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return (AUDIO_TYPES.get(os.path.splitext(name)[1].lower()) or mimetypes.guess_type(name, strict=False)[0]
            or "application/octet-stream")


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the UTF-8 one (RFC 6266), for Vietnamese titles."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _hash_parts(path: Path, part_size: int) -> tuple[str, list[bytes]]:
    """(SHA-256 hex of the whole file, MD5 digest of each `part_size` part) in one pass."""
    digest = hashlib.sha256()
    md5s: list[bytes] = []
    with open(path, "rb") as fh:
        while True:
            part, left = hashlib.md5(usedforsecurity=False), part_size
            while left and (block := fh.read(min(CHUNK, left))):
                digest.update(block)
                part.update(block)
                left -= len(block)
            if left == part_size and md5s:
                break
            md5s.append(part.digest())
            if left:
                break
    return digest.hexdigest(), md5s


def _b64(md5: bytes) -> str:
    return base64.b64encode(md5).decode("ascii")


def _status(exc: ObjectStoreError) -> int:
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        return int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 0


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')} {error.get('Message', '')}".strip()


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
