"""The production pipeline with media on the object store (a real Ceph RADOS Gateway): the same
code as the embedded default gives the same masters and HLS, every output is in the bucket and
nothing under MEDIA_ROOT; then `sachnoi fixity`, `backup` and `restore` against the bucket."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner
from sqlalchemy import select

from catalog.models import Book, Chapter, Original, Rendition
from studio.context import Decisions
from studio_helpers import chapters_take, write_wav


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "phien"
    folder.mkdir()
    samples, _gaps = chapters_take([6, 6], seed=3)
    write_wav(folder / "take-01.wav", samples)
    (folder / "session.toml").write_text('[book]\ntitle = "Kho đối tượng"\n[chapters]\nmin_chapter_s = 4\n',
                                         encoding="utf-8")
    return folder


def _produce(tmp_path: Path, name: str, folder: Path, extra: dict):
    from studio.pipeline import ingest_folder, run_stages
    from web.config import load_settings
    from web.runtime import make_context
    settings = load_settings({"HOME": str(tmp_path / name), "SECRET_KEY": "t-" + uuid.uuid4().hex, **extra})
    ctx = make_context(settings)
    book_id = ingest_folder(ctx, folder)
    run_stages(ctx, book_id, Decisions(approve_marks=True, accept_qc_failures=True, publish=True))
    return settings, ctx, book_id


def _outputs(ctx, book_id: int) -> dict:
    with ctx.sessions() as db:
        chapters = db.scalars(select(Chapter).where(Chapter.book_id == book_id).order_by(Chapter.position)).all()
        rows = db.scalars(select(Rendition).where(Rendition.book_id == book_id)).all()
        return {"masters": [c.master_sha256 for c in chapters],
                "formats": [(c.sample_rate, c.channels, round(c.duration_s, 3)) for c in chapters],
                "hls": sorted((r.name, r.sha256) for r in rows if r.kind == "hls"),
                "rows": [(r.kind, r.key, r.sha256, r.size_bytes) for r in rows]}


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.slow
def test_pipeline_on_the_object_store(tmp_path, s3_settings):
    folder = _folder(tmp_path)
    _local_settings, local, local_book = _produce(tmp_path, "local", folder, {})
    settings, ctx, book_id = _produce(tmp_path, "s3", folder, s3_settings)
    assert ctx.store.is_remote and not local.store.is_remote

    expected, got = _outputs(local, local_book), _outputs(ctx, book_id)
    assert len(got["masters"]) == 2 and got["masters"] == expected["masters"]  # the same code, the same bytes
    # each row records its master's format, which the package stage plans from without the store
    with ctx.sessions() as db:
        keys = db.scalars(select(Chapter.master_key).where(Chapter.book_id == book_id)
                          .order_by(Chapter.position)).all()
    headers = [sf.info(str(ctx.store.path(k))) for k in keys]
    assert got["formats"] == expected["formats"] == [
        (h.samplerate, h.channels, round(h.frames / h.samplerate, 3)) for h in headers]
    assert got["hls"] == expected["hls"] and len(got["hls"]) >= 2
    kinds = {kind for kind, *_rest in got["rows"]}
    assert {"hls", "mp3", "m4b", "cover", "audiobook"} <= kinds
    for kind, key, sha, size in got["rows"]:   # every output is in the bucket, whole
        data = ctx.store.read_bytes(f"{key}/index.m3u8" if kind == "hls" else key)
        assert hashlib.sha256(data).hexdigest() == sha and (kind == "hls" or len(data) == size)
    with ctx.sessions() as db:
        uuid_ = db.get(Book, book_id).uuid
    playlist = ctx.store.read_bytes(f"derived/books/{uuid_}/hls/master.m3u8").decode()
    for line in (ln for ln in playlist.splitlines() if ln and not ln.startswith("#")):
        assert ctx.store.exists(f"derived/books/{uuid_}/hls/{line}")
    assert _files_under(Path(settings["MEDIA_ROOT"])) == []  # nothing on local disk but the cache

    # fixity, backup and restore through the CLI, against the bucket
    from web.cli import main
    env = {"SACHNOI_HOME": settings["HOME"], "SACHNOI_SECRET_KEY": settings["SECRET_KEY"],
           **{f"SACHNOI_{k}": v for k, v in s3_settings.items()}}
    result = CliRunner().invoke(main, ["fixity", "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 đúng, 0 sai, 0 thiếu" in result.output
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "backup"), "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    backed_up = sorted(p.relative_to(tmp_path / "backup" / "media").as_posix()
                       for p in _files_under(tmp_path / "backup" / "media"))
    assert backed_up == sorted(k for top in ("originals", "derived") for k, _s in ctx.store.list(top))

    restored_env = {**env, "SACHNOI_HOME": str(tmp_path / "restored"),
                    "SACHNOI_MEDIA_URL": s3_settings["MEDIA_URL"] + "/restored"}
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "backup"), "--quiet"], env=env)
    assert result.exit_code != 0 and "không trống" in result.output  # onto itself: refused
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "backup"), "--quiet"], env=restored_env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["fixity", "--quiet"], env=restored_env)
    assert result.exit_code == 0 and "1 đúng, 0 sai, 0 thiếu" in result.output, result.output
    from web.extensions import store_from_settings
    from web.config import load_settings
    restored = store_from_settings(load_settings(environ=restored_env))
    assert restored.prefix == "restored"
    assert [(k, s) for top in ("originals", "derived") for k, s in restored.list(top)] == \
        [(k, s) for top in ("originals", "derived") for k, s in ctx.store.list(top)]
    with ctx.sessions() as db:
        sha = db.scalars(select(Original.sha256)).one()
    assert restored.find_original(sha).read_bytes() == ctx.store.find_original(sha).read_bytes()
