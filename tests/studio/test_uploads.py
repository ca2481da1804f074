"""tus uploads: resume after an interruption, hash checks, refusals that leave nothing behind, limits."""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from sqlalchemy import func, select

from catalog.models import Original
from studio_helpers import csrf_from, login, write_wav

TUS = {"Tus-Resumable": "1.0.0"}


def meta(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def wav_bytes(seconds: float = 2.0, channels: int = 2, rate: int = 48_000) -> bytes:
    import soundfile as sf
    x = (np.random.default_rng(3).standard_normal((int(seconds * rate), channels)) * 0.1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype="PCM_24", format="WAV")
    return buf.getvalue()


def store_is_empty(app) -> bool:
    svc = app.extensions["sachnoi"]
    with svc.sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Original))
    files = [p for p in (svc.store.root / "originals").rglob("*") if p.is_file()]
    leftovers = [p for p in (svc.store.root / "tmp").glob("tus-*")]
    return rows == 0 and not files and not leftovers


def originals_on_disk(app) -> list[Path]:
    return [p for p in (app.extensions["sachnoi"].store.root / "originals").rglob("*") if p.is_file()]


def tus_upload(client, data: bytes, *, filename="take.wav", chunk=None, **metadata):
    """Create and PATCH an upload with the Flask test client; returns the last response."""
    created = client.post("/api/uploads/", headers={**TUS, "Upload-Length": str(len(data)),
                                                    "Upload-Metadata": meta(filename=filename, **metadata)})
    if created.status_code != 201:
        return created
    url = created.headers["Location"]
    offset, response = 0, None
    chunk = chunk or len(data)
    while offset < len(data):
        response = client.patch(url, data=data[offset:offset + chunk],
                                headers={**TUS, "Upload-Offset": str(offset),
                                         "Content-Type": "application/offset+octet-stream"})
        if response.status_code != 204:
            return response
        offset = int(response.headers["Upload-Offset"])
    return response


@pytest.fixture
def studio_client(app, client, staff):
    return login(client, "phongthu")


# -- the acceptance case: a real tus client, interrupted at 40 %, resumes from the server's offset ----------
def test_tuspy_upload_interrupted_at_40_percent_resumes_and_completes(app, live_server, staff, tmp_path):
    from tusclient import client as tus_client
    path = write_wav(tmp_path / "buoi-1.wav",
                     (np.random.default_rng(1).standard_normal((48_000 * 20, 2)) * 0.1).astype(np.float32))
    data = path.read_bytes()
    expected = hashlib.sha256(data).hexdigest()

    http = requests.Session()
    token = csrf_from(http.get(live_server.url + "/login").text)
    assert http.post(live_server.url + "/login", data={"username": "phongthu", "password": "mat-khau-phongthu",
                                                       "csrf_token": token}).ok
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    tus = tus_client.TusClient(live_server.url + "/api/uploads/", headers={"Cookie": cookie})

    first = tus.uploader(str(path), chunk_size=256 * 1024, metadata={"filename": path.name, "sha256": expected})
    stop_at = int(len(data) * 0.4)
    first.upload(stop_at=stop_at)  # the connection "drops" here
    url = first.url
    server_offset = int(http.head(url, headers=TUS).headers["Upload-Offset"])
    assert server_offset == stop_at
    assert not originals_on_disk(app)

    # a new client (another page load) asks the server where to continue
    second = tus.uploader(str(path), chunk_size=256 * 1024, url=url)
    assert second.offset == server_offset
    second.upload()

    status = http.get(url).json()
    assert status["state"] == "done" and status["sha256"] == expected
    stored = app.extensions["sachnoi"].store.find_original(expected)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == expected
    with app.extensions["sachnoi"].sessions() as session:
        row = session.get(Original, expected)
        assert row.size_bytes == len(data) and row.uploaded_by == staff["phongthu"] and row.channels == 2


def test_dropped_connection_keeps_received_bytes(app, live_server, staff):
    """A PATCH whose body stops half-way: the server keeps what arrived and HEAD says where to resume."""
    import socket
    from urllib.parse import urlsplit
    data = wav_bytes(4.0)
    http = requests.Session()
    token = csrf_from(http.get(live_server.url + "/login").text)
    http.post(live_server.url + "/login", data={"username": "phongthu", "password": "mat-khau-phongthu",
                                                "csrf_token": token})
    url = http.post(live_server.url + "/api/uploads/",
                    headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta(filename="x.wav")}
                    ).headers["Location"]
    parts = urlsplit(url)
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    sent = len(data) * 2 // 5
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall((f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                      f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                      f"Content-Length: {len(data)}\r\nCookie: {cookie}\r\n\r\n").encode() + data[:sent])
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        try:
            sock.recv(4096)
        except OSError:
            pass
    offset = int(http.head(url, headers=TUS).headers["Upload-Offset"])
    assert offset == sent
    done = http.patch(url, data=data[offset:], headers={**TUS, "Upload-Offset": str(offset),
                                                         "Content-Type": "application/offset+octet-stream"})
    assert done.status_code == 204
    assert done.headers["Upload-Sha256"] == hashlib.sha256(data).hexdigest()


def test_corrupted_final_hash_is_rejected_and_nothing_kept(app, studio_client):
    data = wav_bytes()
    wrong = hashlib.sha256(data + b"x").hexdigest()
    response = tus_upload(studio_client, data, chunk=len(data) // 3 + 1, sha256=wrong)
    assert response.status_code == 460
    assert "SHA-256 không khớp" in response.get_data(as_text=True)
    assert store_is_empty(app)


def test_chunk_checksum_mismatch_discards_that_chunk(app, studio_client):
    data = wav_bytes()
    url = studio_client.post("/api/uploads/", headers={**TUS, "Upload-Length": str(len(data)),
                                                       "Upload-Metadata": meta(filename="a.wav")}).headers["Location"]
    half = data[: len(data) // 2]
    bad = base64.b64encode(hashlib.sha256(half + b"!").digest()).decode()
    response = studio_client.patch(url, data=half, headers={
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": f"sha256 {bad}"})
    assert response.status_code == 460
    assert studio_client.head(url, headers=TUS).headers["Upload-Offset"] == "0"
    good = base64.b64encode(hashlib.sha256(half).digest()).decode()
    response = studio_client.patch(url, data=half, headers={
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": f"sha256 {good}"})
    assert response.status_code == 204 and response.headers["Upload-Offset"] == str(len(half))


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("chuong-1.wav", b"\x00" * 5000)
    return buf.getvalue()


def _png_bytes() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


BAD_INPUTS = {
    "wrong-magic": (lambda: b"NOTAWAVE" + bytes(range(256)) * 40, 415, "không phải WAV/FLAC/AIFF/MP3"),
    "truncated-data": (lambda: wav_bytes()[: int(len(wav_bytes()) * 0.6)], 422, "cắt cụt"),
    "zero-bytes": (lambda: b"", 400, "tệp rỗng"),
    "renamed-zip": (_zip_bytes, 415, "ZIP"),
    "image": (_png_bytes, 415, "PNG"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_its_message_and_leaves_nothing(app, studio_client, case):
    make, status, words = BAD_INPUTS[case]
    data = make()
    response = tus_upload(studio_client, data, filename="chuong-1.wav")
    assert response.status_code == status, response.get_data(as_text=True)
    assert words in response.get_data(as_text=True)
    assert store_is_empty(app)
    assert not list((app.extensions["sachnoi"].store.root / "tmp" / "tus").glob("*.json"))


def test_limits_size_quota_and_roles(app, client, staff, settings):
    app.config["MAX_UPLOAD_MB"] = 1
    login(client, "phongthu")
    too_big = client.post("/api/uploads/", headers={**TUS, "Upload-Length": str(2_000_000)})
    assert too_big.status_code == 413 and "vượt giới hạn" in too_big.get_data(as_text=True)
    app.config["MAX_UPLOAD_MB"] = 100
    app.config["USER_QUOTA_MB"] = 0.5
    first = tus_upload(client, wav_bytes(0.6, 1))  # ~86 kB: fits
    assert first.status_code == 204
    over = client.post("/api/uploads/", headers={**TUS, "Upload-Length": str(450_000)})
    assert over.status_code == 413 and "hạn mức" in over.get_data(as_text=True)
    # without the tus header (e.g. a cross-site form), nothing happens
    assert client.post("/api/uploads/", headers={"Upload-Length": "10"}).status_code == 412
    # another user cannot see or touch someone's upload
    url = client.post("/api/uploads/", headers={**TUS, "Upload-Length": "100"}).headers["Location"]
    other = app.test_client()
    login(other, "phongthu2")
    assert other.head(url, headers=TUS).status_code == 404
    assert other.delete(url, headers=TUS).status_code == 404
    assert client.delete(url, headers=TUS).status_code == 204
    assert client.head(url, headers=TUS).status_code == 404
    reader = app.test_client()
    login(reader, "bandoc")
    assert reader.post("/api/uploads/", headers={**TUS, "Upload-Length": "100"}).status_code == 403
    assert app.test_client().post("/api/uploads/", headers={**TUS, "Upload-Length": "100"}).status_code == 401


def test_options_advertises_extensions(client):
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert "creation" in response.headers["Tus-Extension"] and "termination" in response.headers["Tus-Extension"]
    assert "sha256" in response.headers["Tus-Checksum-Algorithm"]
    assert response.headers["Tus-Version"] == "1.0.0"


def test_take_cannot_join_another_librarys_session(app, client, staff):
    """Audiobookshelf-style object-id confusion: an upload naming a recording session of another
    library's book is refused at creation and nothing is stored."""
    from catalog.accounts import create_user, get_or_create_library
    from catalog.books import create_book
    from catalog.models import RecordingSession
    with app.extensions["sachnoi"].sessions.begin() as session:
        home = get_or_create_library(session, "THV", "Thư viện tỉnh")
        other = get_or_create_library(session, "HUYEN9", "Thư viện huyện", kind="district", parent=home)
        create_user(session, "phongthu-huyen", "mat-khau-phongthu-huyen", role="studio", library=other)
        book = create_book(session, library=home, title="Sách của tỉnh")
        session.flush()
        rec = RecordingSession(book_id=book.id, name="buổi 1")
        session.add(rec)
        session.flush()
        rec_id = rec.id
    login(client, "phongthu-huyen")
    response = tus_upload(client, wav_bytes(), session_id=str(rec_id))
    assert response.status_code == 403
    assert store_is_empty(app)
    own = app.test_client()
    login(own, "phongthu")
    assert tus_upload(own, wav_bytes(), session_id=str(rec_id)).status_code == 204


def test_a_refused_upload_answers_in_the_readers_language(app, studio_client):
    """tus refusals are plain-text bodies: Vietnamese by default, English after the language switch
    (issue 15.6: no inline "Vietnamese (English)" text)."""
    bad = b"NOTAWAVE" + bytes(range(256)) * 40
    vietnamese = tus_upload(studio_client, bad, filename="chuong-1.wav")
    assert vietnamese.status_code == 415
    body = vietnamese.get_data(as_text=True)
    assert "chuong-1.wav: phần đầu tệp không phải WAV/FLAC/AIFF/MP3." in body and "not an audio" not in body
    studio_client.get("/?lang=en")  # the site's language switch, kept in the session
    english = tus_upload(studio_client, bad, filename="chuong-1.wav")
    assert english.status_code == 415
    body = english.get_data(as_text=True)
    assert "chuong-1.wav: the file does not start like WAV/FLAC/AIFF/MP3 (not an audio file)." in body
    assert "phần đầu" not in body
    empty = studio_client.post("/api/uploads/", headers={**TUS, "Upload-Length": "0",
                                                         "Upload-Metadata": meta(filename="a.wav")})
    assert empty.status_code == 400 and empty.get_data(as_text=True) == "a.wav: empty file, 0 bytes.\n"
    assert store_is_empty(app)
