"""Issue 14 point 4 and issue 16 point 11: every way audio enters (tus, the form upload, the hot
folder, `sachnoi ingest`) goes through `studio.intake`, with the same limits, and a refused or
abandoned upload leaves no empty recording session."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from audio_bombs import silent_flac
from catalog.models import Original, RecordingSession, Take
from studio.context import Decisions
from studio.errors import StudioError
from studio.watch import HotFolder
from studio_helpers import chapters_take, csrf_from, login, write_wav
from test_uploads import TUS, meta, tus_upload, wav_bytes


@pytest.fixture(scope="module")
def flac_bomb(tmp_path_factory):
    """A real 2 MB FLAC that decodes to 5.8 h of 96 kHz 8-channel silence (16 billion samples)."""
    path = tmp_path_factory.mktemp("bomb") / "chuong-1.flac"
    silent_flac(path, hours=5.8)
    return path


@pytest.fixture
def book_id(app, staff):
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book
    with app.extensions["sachnoi"].sessions.begin() as session:
        library = get_or_create_library(session, "THV", "Thư viện tỉnh")
        book = create_book(session, library=library, title="Sách thử")
        session.flush()
        return book.id


def counts(app) -> tuple[int, int, int]:
    """(recording sessions, takes, originals) in the database."""
    with app.extensions["sachnoi"].sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (RecordingSession, Take, Original))


def csrf(client, book_id: int) -> dict:
    return {"X-CSRFToken": csrf_from(client.get(f"/studio/books/{book_id}").get_data(as_text=True)),
            "Accept": "application/json"}


def form_upload(client, book_id: int, data: bytes, name: str):
    """The page's no-tus path: the file posted with the new-session form."""
    import io
    return client.post(f"/studio/books/{book_id}/sessions", data={"name": "Buổi 1", "files": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=csrf(client, book_id))


def test_decompression_bomb_is_refused_quickly_on_every_path(app, client, staff, book_id, ctx, flac_bomb,
                                                             tmp_path):
    """Attack (issue 14.4): an 8.5 MB FLAC that decodes to 5.8 h of 96 kHz 8-channel silence tied a web
    thread for 5.5 min. The header's frames × channels is refused before a frame is decoded, by the
    same check on tus, the form upload, the hot folder and the CLI ingest; nothing is stored."""
    data = flac_bomb.read_bytes()
    login(client, "phongthu")
    started = time.monotonic()
    response = tus_upload(client, data, filename="chuong-1.flac", book_id=str(book_id))
    assert response.status_code == 422
    assert "giải mã ra quá nhiều mẫu" in response.get_data(as_text=True)
    assert "5,8 giờ × 96000 Hz × 8 kênh" in response.get_data(as_text=True)

    response = form_upload(client, book_id, data, "chuong-1.flac")
    assert response.status_code == 400
    assert "giải mã ra quá nhiều mẫu" in response.get_json()["message"]

    inbox = tmp_path / "inbox"
    hot = HotFolder(ctx, inbox, settle_s=0.0, decisions=Decisions())
    folder = inbox / "phien-bom"
    folder.mkdir()
    (folder / "chuong-1.flac").write_bytes(data)
    hot.scan(now=0.0)
    (result,) = hot.scan(now=1.0)
    assert "giải mã ra quá nhiều mẫu" in result.error
    (failed,) = (inbox / "_failed").iterdir()
    assert "giải mã ra quá nhiều mẫu" in (failed / "LOI.txt").read_text(encoding="utf-8")

    from studio.pipeline import ingest_folder  # what `sachnoi ingest` calls
    with pytest.raises(StudioError, match="giải mã ra quá nhiều mẫu"):
        ingest_folder(ctx, failed)
    assert time.monotonic() - started < 30  # four refusals, each a header read in a child process
    assert counts(app) == (0, 0, 0)


def test_form_upload_probes_in_a_child_with_a_time_limit(app, client, staff, book_id):
    """Attack (issue 14.4): `POST /studio/sessions/<id>/takes` probed in-process with no time limit.
    It now uses the intake's child-process probe: a timeout too short for any file refuses it."""
    login(client, "phongthu")
    app.config["PROBE_TIMEOUT_S"] = 0.001
    response = form_upload(client, book_id, wav_bytes(1.0), "buoi.wav")
    assert response.status_code == 400
    assert "quá thời gian" in response.get_json()["message"]
    assert counts(app) == (0, 0, 0)


def test_form_upload_applies_size_limit_and_quota(app, client, staff, book_id):
    """Attack (issue 14.4): the form upload accepted anything; size limit and user quota applied to tus only."""
    login(client, "phongthu")
    app.config["MAX_UPLOAD_MB"] = 0.05
    response = form_upload(client, book_id, wav_bytes(1.0), "lon.wav")  # ~290 kB
    assert response.status_code == 400 and "vượt giới hạn" in response.get_json()["message"]
    app.config["MAX_UPLOAD_MB"] = 100
    app.config["USER_QUOTA_MB"] = 0.4
    assert form_upload(client, book_id, wav_bytes(1.0), "mot.wav").status_code == 201
    response = form_upload(client, book_id, wav_bytes(1.0, 1), "hai.wav")
    assert response.status_code == 400 and "hạn mức" in response.get_json()["message"]
    assert counts(app) == (1, 1, 1)


def test_pending_uploads_are_capped_per_user(app, client, staff):
    """Attack (issue 14.4): no cap on unfinished uploads; a script could open thousands and hold them."""
    login(client, "phongthu")
    app.config["MAX_PENDING_UPLOADS"] = 2
    for _ in range(2):
        assert client.post("/api/uploads/", headers={**TUS, "Upload-Length": "1000"}).status_code == 201
    third = client.post("/api/uploads/", headers={**TUS, "Upload-Length": "1000"})
    assert third.status_code == 429 and "chưa xong" in third.get_data(as_text=True)
    other = app.test_client()
    login(other, "phongthu2")  # the cap is per user
    assert other.post("/api/uploads/", headers={**TUS, "Upload-Length": "1000"}).status_code == 201


def test_request_bodies_are_bounded_on_every_route(app, client, staff):
    """Attack (issue 14.4): an anonymous 300 MB POST to /login was read in full. The app refuses any
    body past MAX_REQUEST_MB (the server refuses it before reading: tests/security/test_slow_clients.py);
    the tus PATCH keeps its own, larger limit."""
    big = "x" * 33_000_000  # past the default MAX_REQUEST_MB (32)
    response = client.post("/login", data={"username": "a", "password": big})
    assert response.status_code == 413
    app.config["MAX_CONTENT_LENGTH"] = 1_000_000
    login(client, "phongthu")
    data = wav_bytes(4.0)  # ~1.7 MB: past MAX_CONTENT_LENGTH, within MAX_UPLOAD_MB
    assert len(data) > 1_000_000
    assert tus_upload(client, data).status_code == 204


def test_no_empty_session_from_a_refused_or_abandoned_upload(app, client, staff, book_id):
    """Issue 16.11: every failed attempt left an empty recording session (the page created the session
    before the first file was sent). A session now exists only with its first take."""
    login(client, "phongthu")
    bad = tus_upload(client, b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(4000), filename="hong.wav",
                     book_id=str(book_id), session_name="Buổi hỏng")
    assert bad.status_code in (415, 422)
    abandoned = client.post("/api/uploads/", headers={**TUS, "Upload-Length": "5000",
                                                      "Upload-Metadata": meta(filename="a.wav", book_id=str(book_id))})
    assert abandoned.status_code == 201
    assert form_upload(client, book_id, b"PK\x03\x04" + bytes(100), "nen.wav").status_code == 400
    assert counts(app)[0] == 0

    first = tus_upload(client, wav_bytes(1.0), filename="mot.wav", book_id=str(book_id), session_name="Buổi sáng")
    assert first.status_code == 204
    status = client.get(first.request.path).get_json()
    with app.extensions["sachnoi"].sessions() as session:
        rec = session.scalars(select(RecordingSession)).one()
        assert (rec.name, rec.book_id, status["session_id"]) == ("Buổi sáng", book_id, rec.id)
        assert [t.filename for t in rec.takes] == ["mot.wav"]
    second = tus_upload(client, wav_bytes(0.9), filename="hai.wav", session_id=str(status["session_id"]))
    assert second.status_code == 204
    assert counts(app)[:2] == (1, 2)


def test_staff_can_delete_a_session_of_a_draft(app, client, staff, book_id):
    """Issue 16.11: staff can delete a recording session (its takes and marks; originals stay)."""
    login(client, "phongthu")
    assert form_upload(client, book_id, wav_bytes(1.0), "mot.wav").status_code == 201
    with app.extensions["sachnoi"].sessions() as session:
        rec_id = session.scalars(select(RecordingSession.id)).one()
    other = app.test_client()
    login(other, "bandoc")
    other.post(f"/studio/sessions/{rec_id}/delete", headers=csrf(client, book_id))  # a reader: refused
    assert counts(app) == (1, 1, 1)
    page = client.get(f"/studio/books/{book_id}").get_data(as_text=True)
    assert f'action="/studio/sessions/{rec_id}/delete"' in page
    response = client.post(f"/studio/sessions/{rec_id}/delete", headers=csrf(client, book_id))
    assert response.status_code == 302
    assert counts(app) == (0, 0, 1)


def test_hot_folder_take_passes_the_same_checks(app, ctx, tmp_path):
    """Issue 14.4: the hot folder stores takes through the intake (size limit applies there too)."""
    ctx.settings = replace(ctx.settings, max_upload_mb=0.01)
    folder = tmp_path / "phien"
    folder.mkdir()
    write_wav(folder / "take-01.wav", chapters_take([2])[0])
    from studio.pipeline import ingest_folder
    with pytest.raises(StudioError, match="vượt giới hạn"):
        ingest_folder(ctx, folder)
    ctx.settings = replace(ctx.settings, max_upload_mb=100)
    assert ingest_folder(ctx, folder)
    assert counts(app) == (1, 1, 1)


def test_upload_naming_a_book_or_session_it_may_not_use_is_refused(app, client, staff, book_id):
    """No-500 finding of issue 14 (a huge `session_id` in tus metadata) and object-id confusion: an
    id past 64 bits, or a book that does not exist, is refused at creation with nothing stored."""
    login(client, "phongthu")
    for key, value, status in (("session_id", "9" * 30, 400), ("book_id", "9" * 30, 400),
                               ("book_id", str(book_id + 1000), 403)):
        response = client.post("/api/uploads/", headers={**TUS, "Upload-Length": "1000",
                                                         "Upload-Metadata": meta(filename="a.wav", **{key: value})})
        assert response.status_code == status, (key, value, response.get_data(as_text=True))
    assert counts(app) == (0, 0, 0)
