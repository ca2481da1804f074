"""Hot folder and fixity audit."""
from __future__ import annotations

import os
import stat

from sqlalchemy import select

from catalog.models import Job
from recordings.fixity import audit
from studio.context import Decisions
from studio.watch import HotFolder
from studio_helpers import chapters_take, write_wav


def test_hot_folder_waits_for_files_to_settle_then_ingests_once(ctx, tmp_path):
    inbox = tmp_path / "inbox"
    hot = HotFolder(ctx, inbox, settle_s=1.0, decisions=Decisions())
    folder = inbox / "phien-1"
    folder.mkdir()
    samples, _ = chapters_take([3])
    write_wav(folder / "take-01.wav", samples)
    assert hot.scan(now=0.0) == []            # first sight
    with open(folder / "take-01.wav", "ab") as fh:  # still growing
        fh.write(b"\x00" * 6)
    assert hot.scan(now=0.5) == []
    write_wav(folder / "take-01.wav", samples)
    assert hot.scan(now=1.0) == []
    assert hot.scan(now=1.5) == []            # unchanged, but not for settle_s yet
    (result,) = hot.scan(now=2.6)
    assert result.book_id and result.job_id and not result.error
    assert not folder.exists() and len(list((inbox / "_done").iterdir())) == 1
    with ctx.sessions() as session:
        job = session.scalars(select(Job)).one()
        assert job.payload["stop"] == "mark"  # unapproved marks wait for review

    bad = inbox / "phien-2"
    bad.mkdir()
    (bad / "take.wav").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    hot.scan(now=10.0)
    (failed,) = hot.scan(now=20.0)
    assert failed.error and failed.book_id is None
    (moved,) = list((inbox / "_failed").iterdir())
    assert "Không nhập được" in (moved / "LOI.txt").read_text(encoding="utf-8")


def test_fixity_reports_mismatch_and_missing(ctx, tmp_path):
    a = write_wav(tmp_path / "a.wav", chapters_take([1])[0])
    b = write_wav(tmp_path / "b.wav", chapters_take([1], seed=5)[0])
    sha_a, key_a = ctx.store.put_original(a)
    sha_b, _ = ctx.store.put_original(b)
    assert audit(ctx.store, [sha_a, sha_b]).passed
    path = ctx.store.path(key_a)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    with open(path, "r+b") as fh:  # bit rot
        fh.seek(200)
        fh.write(b"\xff")
    report = audit(ctx.store, [sha_a, sha_b, "0" * 64])
    assert not report.passed
    assert [m[0] for m in report.mismatched] == [sha_a]
    assert report.missing == ["0" * 64]
