"""The media store contract, the same tests for the local folder and for the object store (a real
Ceph RADOS Gateway, fixture `s3_settings`): round trip, originals named by their hash and never
overwritten, atomic writes invisible until they succeed, unsafe keys refused, missing keys, and
(object store only) presigned URLs that RGW refuses once tampered with or expired."""
from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from recordings.errors import MissingMediaError, ObjectStoreError, UnsafeKeyError
from recordings.fixity import audit
from recordings.store import MediaStore, open_store

UNSAFE = ["", "/etc/passwd", "../x", "derived/../../x", "derived//x", "c:/x", "derived/./x", "derived/x\x00y",
          "\\\\host\\share"]


def _s3_store(tmp_path: Path, s3_settings: dict, name: str = "node", prefix: str = "", **kwargs):
    from recordings.s3store import S3MediaStore
    bucket = s3_settings["MEDIA_URL"].removeprefix("s3://")
    return S3MediaStore(bucket, prefix, endpoint_url=s3_settings["S3_ENDPOINT_URL"],
                        region=s3_settings["S3_REGION"], cache_dir=tmp_path / f"cache-{name}", **kwargs)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return MediaStore(tmp_path / "media")
    s3 = request.getfixturevalue("s3_settings")
    return open_store(tmp_path / "media", s3["MEDIA_URL"], endpoint_url=s3["S3_ENDPOINT_URL"],
                      region=s3["S3_REGION"], cache_dir=tmp_path / "cache")


def _raw_put(store, key: str, data: bytes) -> None:
    """Change stored bytes behind the store's back (bit rot, or someone with the bucket's keys)."""
    if store.is_remote:
        store.client.put_object(Bucket=store.bucket, Key=store._object(key), Body=data)
        store._cached(key).unlink(missing_ok=True)
    else:
        path = store.path(key)
        os.chmod(path, 0o600)
        path.write_bytes(data)


def test_round_trip(store):
    key = "derived/books/b1/manifest.json"
    assert not store.exists(key)
    store.write_bytes(key, b'{"a": 1}')
    assert store.exists(key) and store.exists("derived/books/b1")  # a folder exists when it holds files
    assert store.read_bytes(key) == b'{"a": 1}'
    with store.open(key) as fh:
        assert fh.read(3) == b'{"a' and fh.read() == b'": 1}'
    assert store.path(key).read_bytes() == b'{"a": 1}'   # a local file to hand to ffmpeg
    with store.atomic_path("derived/books/b1/mp3/01.mp3") as tmp:
        tmp.write_bytes(b"x" * 1000)
    assert list(store.list("derived/books/b1")) == [("derived/books/b1/manifest.json", 8),
                                                     ("derived/books/b1/mp3/01.mp3", 1000)]
    store.write_bytes(key, b"{}")  # overwritten: a reader sees the new bytes
    assert store.read_bytes(key) == b"{}" and store.path(key).read_bytes() == b"{}"
    store.delete(key)
    assert not store.exists(key) and not store.path(key).exists()
    store.delete_tree("derived/books/b1")
    assert not store.exists("derived/books/b1") and list(store.list("derived/books/b1")) == []
    assert store.is_remote == isinstance(store.presigned_url("derived/x", 60), str)


def test_missing_keys(store):
    with pytest.raises(MissingMediaError):
        store.open("derived/nothing.mp3")
    with pytest.raises(MissingMediaError):
        store.read_bytes("derived/nothing.mp3")
    with pytest.raises(MissingMediaError):
        store.find_original("ab" * 32)
    assert not store.path("derived/nothing.mp3").exists()
    assert list(store.list("derived/nothing")) == []
    store.delete("derived/nothing.mp3")  # no error


@pytest.mark.parametrize("key", UNSAFE)
def test_unsafe_keys_are_refused(store, key):
    for call in (store.path, store.exists, store.open, store.read_bytes, store.delete, store.delete_tree,
                 lambda k: list(store.list(k)), lambda k: store.write_bytes(k, b"x"),
                 lambda k: store.presigned_url(k, 60)):
        with pytest.raises(UnsafeKeyError):
            call(key)
    with pytest.raises(UnsafeKeyError):
        with store.atomic_path(key):
            pass
    with pytest.raises(UnsafeKeyError):
        with store.atomic_dir(key):
            pass
    with pytest.raises(UnsafeKeyError):
        store.find_original("../" + "a" * 61)


def test_originals_are_named_by_hash_checked_and_never_overwritten(store, tmp_path):
    src = tmp_path / "take.wav"
    src.write_bytes(os.urandom(300_000))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    with pytest.raises(ValueError):
        store.put_original(src, expected_sha256="0" * 64)
    assert list(store.list("originals")) == []  # refused: nothing stored
    assert store.put_original(src, expected_sha256=sha) == (sha, f"originals/{sha[:2]}/{sha[2:4]}/{sha}.wav")
    key = store.original_key(sha, ".wav")
    assert store.find_original(sha).read_bytes() == src.read_bytes()
    assert [k for k, _p in [(s, p) for s, p in store.iter_originals()]] == [sha]
    assert audit(store, [sha]).passed

    _raw_put(store, key, b"rotten" + src.read_bytes()[6:])
    assert store.put_original(src) == (sha, key)   # the same content again: a no-op...
    report = audit(store, [sha, "f" * 64])         # ...that does not overwrite what is there
    assert [m[:1] + m[2:] for m in report.mismatched] == [(sha, key)] and report.missing == ["f" * 64]
    assert store.read_bytes(key).startswith(b"rotten")
    for remove in (store.delete, store.delete_tree):
        with pytest.raises(UnsafeKeyError):
            remove(key)
    with pytest.raises(UnsafeKeyError):
        store.delete_tree("originals")
    assert store.exists(key)


def test_atomic_writes_are_invisible_until_the_block_succeeds(store):
    with pytest.raises(RuntimeError):
        with store.atomic_path("derived/books/b2/book.m4b") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("encoder died")
    assert not store.exists("derived/books/b2/book.m4b")
    with pytest.raises(RuntimeError):
        with store.atomic_dir("derived/books/b2/hls/aac-64k") as folder:
            (folder / "init.mp4").write_bytes(b"i")
            (folder / "seg-001.m4s").write_bytes(b"s")
            (folder / "index.m3u8").write_text("#EXTM3U\n")
            raise RuntimeError("encoder died")
    assert not store.exists("derived/books/b2/hls/aac-64k") and list(store.list("derived/books/b2")) == []

    with store.atomic_dir("derived/books/b2/hls/aac-64k") as folder:
        for name in ("init.mp4", "seg-001.m4s", "seg-002.m4s", "index.m3u8"):
            (folder / name).write_bytes(name.encode())
    with store.atomic_dir("derived/books/b2/hls/aac-64k") as folder:  # a new version replaces the old one
        for name in ("init.mp4", "seg-101.m4s", "index.m3u8"):
            (folder / name).write_bytes(b"v2 " + name.encode())
    assert [k.rsplit("/", 1)[1] for k, _s in store.list("derived/books/b2/hls/aac-64k")] == [
        "index.m3u8", "init.mp4", "seg-101.m4s"]
    assert store.read_bytes("derived/books/b2/hls/aac-64k/index.m3u8") == b"v2 index.m3u8"


def test_copy_gives_the_same_bytes_a_second_name_that_later_writes_do_not_change(store):
    store.write_bytes("derived/books/b/hls/a/seg.m4s", b"first encode")
    store.copy("derived/books/b/hls/a/seg.m4s", "derived/books/b/v/0123456789abcdef/hls/a/seg.m4s")
    store.write_bytes("derived/books/b/hls/a/seg.m4s", b"second encode")   # replaced, never rewritten
    with store.open("derived/books/b/v/0123456789abcdef/hls/a/seg.m4s") as fh:
        assert fh.read() == b"first encode"
    with pytest.raises(MissingMediaError):
        store.copy("derived/books/b/hls/a/none.m4s", "derived/books/b/v/0123456789abcdef/none.m4s")
    assert not store.exists("derived/books/b/v/0123456789abcdef/none.m4s")


def test_copy_many_copies_each_pair_and_the_playlists_after_what_they_name(store):
    src, dst = "derived/books/b/hls/a", "derived/books/b/v/0123456789abcdef/hls/a"
    names = [f"seg-{n:03d}.m4s" for n in range(20)] + ["index.m3u8"]
    for name in names:
        store.write_bytes(f"{src}/{name}", f"bytes of {name}".encode())
    order = []
    copy = store.copy
    store.copy = lambda s, d: (copy(s, d), order.append(d.rsplit("/", 1)[1]))[0]
    store.copy_many([(f"{src}/{name}", f"{dst}/{name}") for name in names])
    assert sorted(order) == sorted(names) and order[-1] == "index.m3u8"
    for name in names:
        assert store.read_bytes(f"{dst}/{name}") == f"bytes of {name}".encode()


def test_write_many_and_delete_many_replace_and_remove_in_bulk(store):
    keys = [f"derived/books/b/hls/a/seg-{n:04d}.m4s" for n in range(1005)]   # past one DeleteObjects batch
    store.write_bytes(keys[0], b"old")
    assert store.path(keys[0]).read_bytes() == b"old"            # an object store caches what it read
    store.write_many({key: f"bytes of {key}".encode() for key in keys})
    assert store.read_bytes(keys[0]) == f"bytes of {keys[0]}".encode()
    assert store.path(keys[0]).read_bytes() == f"bytes of {keys[0]}".encode()   # never the stale copy
    assert len(list(store.list("derived/books/b/hls/a"))) == 1005
    store.delete_many(keys[:1003] + ["derived/books/b/hls/a/never-written.m4s"])
    assert [key for key, _size in store.list("derived/books/b/hls/a")] == keys[1003:]
    assert not store.path(keys[0]).exists()
    with pytest.raises(UnsafeKeyError):
        store.delete_many([keys[1003], "originals/ab/cd/" + "ab" * 32 + ".wav"])
    with pytest.raises(UnsafeKeyError):
        store.write_many({"originals/ab/cd/" + "ab" * 32 + ".wav": b"x"})
    assert store.exists(keys[1003])   # a refused batch removes nothing


def test_fixity_streams_every_original(store, tmp_path):
    shas = []
    for n in range(3):
        src = tmp_path / f"t{n}.flac"
        src.write_bytes(os.urandom(50_000 + n))
        shas.append(store.put_original(src)[0])
    seen = []
    report = audit(store, shas, progress=lambda done, total: seen.append((done, total)))
    assert report.passed and report.checked == 3 and report.bytes_checked == 150_003
    assert seen[-1] == (150_003, 150_003)


# -- object store only ---------------------------------------------------------------------------------
def test_s3_store_overrides_every_method_that_touches_bytes():
    from recordings.s3store import S3MediaStore
    # read_bytes and write_bytes are built on open and atomic_path
    shared = {"original_key", "book_prefix", "tmp_dir", "is_remote", "read_bytes", "write_bytes"}
    own = {name for name in vars(MediaStore) if not name.startswith("_")} - shared
    assert own and {name for name in own if vars(S3MediaStore).get(name) is None} == set()


def test_s3_server_checks_the_bytes_and_refuses_an_overwrite(tmp_path, s3_settings):
    from recordings.s3store import _hash_parts
    store = _s3_store(tmp_path, s3_settings)
    src, other = tmp_path / "a.wav", tmp_path / "b.wav"
    src.write_bytes(b"A" * 1000)
    other.write_bytes(b"B" * 1000)
    sha, key = store.put_original(src)
    # If-None-Match: * is honoured: a PUT of other bytes under an existing original's key changes nothing
    store._put_new(key, other, _hash_parts(other, 1000)[1][0], {})
    assert store.read_bytes(key) == b"A" * 1000
    # Content-MD5 is checked: bytes that are not the hashed ones are refused, nothing is stored
    with pytest.raises(ObjectStoreError, match="BadDigest|InvalidDigest"):
        store._put_new("originals/00/00/" + "0" * 64 + ".wav", other, _hash_parts(src, 1000)[1][0], {})
    assert not store.exists("originals/00/00/" + "0" * 64 + ".wav")


def test_s3_large_original_goes_in_checked_parts(tmp_path, s3_settings):
    store = _s3_store(tmp_path, s3_settings, multipart_threshold=6 << 20, part_size=5 << 20)
    src = tmp_path / "long.wav"
    src.write_bytes(os.urandom(11 << 20))  # three parts: 5 + 5 + 1 MiB
    sha, key = store.put_original(src)
    head = store.client.head_object(Bucket=store.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3") and head["Metadata"]["sha256"] == sha
    other = _s3_store(tmp_path, s3_settings, name="other")  # another machine: downloads, checks the hash
    assert other.find_original(sha).read_bytes() == src.read_bytes()
    with store.atomic_path("derived/books/b/book.m4b") as tmp:   # derived: boto3's transfer manager
        tmp.write_bytes(src.read_bytes()[: 7 << 20])
    assert other.read_bytes("derived/books/b/book.m4b") == src.read_bytes()[: 7 << 20]


def test_s3_cached_copies_follow_changes_and_originals_are_verified(tmp_path, s3_settings):
    one, two = _s3_store(tmp_path, s3_settings, "one"), _s3_store(tmp_path, s3_settings, "two")
    one.write_bytes("derived/books/b/edit/01.flac", b"first")
    assert two.path("derived/books/b/edit/01.flac").read_bytes() == b"first"
    one.write_bytes("derived/books/b/edit/01.flac", b"second, longer")
    assert two.path("derived/books/b/edit/01.flac").read_bytes() == b"second, longer"  # ETag changed
    one.delete("derived/books/b/edit/01.flac")
    assert not two.path("derived/books/b/edit/01.flac").exists()

    src = tmp_path / "t.wav"
    src.write_bytes(b"take" * 1000)
    sha, key = one.put_original(src)
    _raw_put(one, key, b"tampered")
    with pytest.raises(ObjectStoreError):
        two.path(key)              # a download that fails its hash is not kept
    assert not two._cached(key).exists()


def test_s3_prefix_keeps_stores_apart(tmp_path, s3_settings):
    a = _s3_store(tmp_path, s3_settings, "a", prefix="province-a")
    b = _s3_store(tmp_path, s3_settings, "b", prefix="province-b")
    a.write_bytes("derived/x.json", b"a")
    assert not b.exists("derived/x.json") and list(b.list("derived")) == []
    assert a.client.head_object(Bucket=a.bucket, Key="province-a/derived/x.json")["ContentLength"] == 1


def test_s3_atomic_dir_publishes_playlists_last(tmp_path, s3_settings):
    store = _s3_store(tmp_path, s3_settings)
    order = []
    publish = store._publish
    store._publish = lambda key, path: (order.append(key.rsplit("/", 1)[1]), publish(key, path))[1]
    with store.atomic_dir("derived/books/b/work/hls/aac-64k/001") as folder:
        for name in ("job.json", "chapter.m3u8", "init.mp4", "seg-000.m4s", "seg-001.m4s"):
            (folder / name).write_bytes(name.encode())
    assert set(order[:3]) == {"init.mp4", "seg-000.m4s", "seg-001.m4s"}
    assert set(order[3:]) == {"job.json", "chapter.m3u8"}
    types = {name: store.client.head_object(Bucket=store.bucket, Key=f"derived/books/b/work/hls/aac-64k/001/{name}")
             ["ContentType"] for name in ("chapter.m3u8", "seg-000.m4s", "job.json")}
    assert types == {"chapter.m3u8": "application/vnd.apple.mpegurl", "seg-000.m4s": "audio/mp4",
                     "job.json": "application/json"}


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_s3_presigned_urls_work_and_rgw_refuses_tampered_or_expired_ones(tmp_path, s3_settings):
    store = _s3_store(tmp_path, s3_settings)
    key = "derived/books/b/mp3/01.mp3"
    store.write_bytes(key, b"ID3 audio")
    store.write_bytes("derived/books/b/mp3/02.mp3", b"other chapter")
    url = store.presigned_url(key, 60, filename="Chương 1 — Dế Mèn.mp3")
    status, body, headers = _get(url)
    assert (status, body) == (200, b"ID3 audio")
    assert "attachment" in headers["Content-Disposition"]
    assert "filename*=UTF-8''Ch%C6%B0%C6%A1ng%201" in headers["Content-Disposition"]

    signature = url.split("X-Amz-Signature=")[1][:64]
    forged = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert _get(forged)[0] == 403                                  # a tampered signature
    assert _get(url.replace("/01.mp3", "/02.mp3"))[0] == 403         # another object with this signature
    assert _get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"))[0] == 403  # a longer life
    short = store.presigned_url(key, 1)
    time.sleep(2.5)
    assert _get(short)[0] == 403                                   # expired


def test_open_store_chooses_by_url(tmp_path):
    assert type(open_store(tmp_path / "m")) is MediaStore
    for bad in ("http://bucket", "s3://", "file:///x", "bucket"):
        with pytest.raises(ValueError, match="s3://bucket"):
            open_store(tmp_path / "m", bad)


def test_s3_leftovers_of_killed_writers_are_swept(tmp_path, s3_settings):
    from recordings.temporaries import sweep_temporaries
    store = _s3_store(tmp_path, s3_settings)
    store.write_bytes("derived/a.json", b"{}")
    half = store.root / "cache" / "derived" / ".a.json.x1.tmp"   # a download killed midway
    half.write_bytes(b"half")
    scratch = store.tmp_dir / ".book.m4b.x2.tmp"                  # an encode killed before its upload
    scratch.write_bytes(b"")
    old = time.time() - 3600
    for path in (half, scratch):
        os.utime(path, (old, old))
    assert set(sweep_temporaries(store.root, older_than_s=600)) == {half, scratch}
    assert store.path("derived/a.json").read_bytes() == b"{}"


def test_the_app_builds_the_object_store_from_its_settings(tmp_path, s3_settings):
    from catalog.migrate import upgrade
    from web.app import create_app
    from web.config import load_settings
    from web.extensions import media_store
    (tmp_path / "inst").mkdir()
    settings = {"HOME": str(tmp_path / "inst"), "SECRET_KEY": "t-" + os.urandom(8).hex(), "TESTING": True,
                **s3_settings}
    upgrade(load_settings(settings)["DATABASE_URL"])
    app = create_app(settings)
    try:
        store = app.extensions["sachnoi"].store
        assert store.is_remote and store.root == (tmp_path / "inst" / "media-cache").resolve()
        with app.app_context():
            assert media_store() is store
        health = app.test_client().get("/healthz")
        assert health.status_code == 200 and "media" in health.get_json()["disk_free_mb"]
        assert not (tmp_path / "inst" / "media").exists()   # MEDIA_ROOT is not used
    finally:
        app.extensions["sachnoi"].engine.dispose()


def _empty_twin(store, tmp_path: Path):
    """An empty store of the same kind: another folder, or another prefix of the same bucket."""
    if not store.is_remote:
        return MediaStore(tmp_path / "restored-media")
    from recordings.s3store import S3MediaStore
    return S3MediaStore(store.bucket, "restored", endpoint_url=store.client.meta.endpoint_url,
                        cache_dir=tmp_path / "restored-cache")


def test_backup_and_restore_through_the_store(store, tmp_path):
    from catalog.backup import BackupError, backup, restore
    from catalog.migrate import upgrade
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    src = tmp_path / "take.wav"
    src.write_bytes(os.urandom(40_000))
    sha, original = store.put_original(src)
    store.write_bytes("derived/books/b/manifest.json", b"{}")
    with store.atomic_dir("derived/books/b/hls/aac-64k") as folder:
        (folder / "seg-000.m4s").write_bytes(b"s" * 5000)
        (folder / "index.m3u8").write_text("#EXTM3U\n")
    with store.atomic_path("derived/books/b/book.m4b") as tmp:
        tmp.write_bytes(b"half")  # a write in progress is not media: left out
        report = backup(url, store, tmp_path / "backup")
        listing = list(store.list("originals")) + list(store.list("derived"))
    assert report.media_files == len(listing) == 4

    with pytest.raises(BackupError):    # onto a store that is not empty: refused, nothing written
        restore(tmp_path / "backup", f"sqlite:///{tmp_path / 'other.sqlite'}", store)
    assert len(list(store.list("originals")) + list(store.list("derived"))) == 5  # with book.m4b, now written
    target = _empty_twin(store, tmp_path)
    restore(tmp_path / "backup", f"sqlite:///{tmp_path / 'restored.sqlite'}", target)
    assert list(target.list("originals")) + list(target.list("derived")) == listing
    assert target.read_bytes(original) == src.read_bytes() and audit(target, [sha]).passed


def test_derived_media_is_readable_by_the_web_servers_user():
    """Found in review: nginx's workers (another user than the app's, e.g. www-data) send derived
    media themselves in the "x-accel" and "auth-request" modes (docs/nginx.conf), but every derived
    file was placed 0600 and every folder built aside 0700 (mkstemp / mkdtemp), so only an nginx
    whose workers run as the app's user (as this suite's did) could serve them. Placed media is
    0644 in 0755 folders; as root, another user (nobody) reads each file."""
    import shutil
    import stat
    import subprocess
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="sachnoi-media-"))       # not pytest's private tmp folders
    os.chmod(root, 0o755)
    try:
        store = MediaStore(root)
        book = "derived/books/b7"
        store.write_bytes(f"{book}/cover.jpg", b"jpg")
        with store.atomic_path(f"{book}/book.m4b") as tmp:
            tmp.write_bytes(b"m4b")
        store.copy(f"{book}/book.m4b", f"{book}/mp3/01.mp3")
        with store.atomic_dir(f"{book}/hls/aac-64k-mono") as folder:
            (folder / "001").mkdir()
            (folder / "001" / "seg-000.m4s").write_bytes(b"segment")
            (folder / "index.m3u8").write_text("#EXTM3U\n")
        files = {p: p.read_bytes() for p in (root / book).rglob("*") if p.is_file()}
        assert len(files) == 5
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
        for p in [q for q in (root / book).rglob("*") if q.is_dir()]:
            assert stat.S_IMODE(p.stat().st_mode) & 0o005 == 0o005, p      # others may enter and list
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            pytest.skip("reading as another user needs root and setpriv (util-linux)")
        for p, data in files.items():
            out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", str(p)],
                                 capture_output=True, timeout=10)
            assert out.returncode == 0 and out.stdout == data, (p, out.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
