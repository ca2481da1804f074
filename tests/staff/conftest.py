"""Fixtures for the staff pages: two libraries with staff and readers, logins, a generated session."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from catalog.accounts import create_user, get_or_create_library

RATE = 44100
PASSWORD = "mat-khau-{}"
USERS = (("reader1", "reader", "THV"), ("studio1", "studio", "THV"), ("lib1", "librarian", "THV"),
         ("admin1", "admin", "THV"), ("studio2", "studio", "HUYEN1"), ("lib2", "librarian", "HUYEN1"))


@pytest.fixture
def settings(settings):
    settings["CHAPTER_MIN_S"] = 3.0  # short generated takes still split at their pause
    return settings


@pytest.fixture
def users(app):
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
        other = get_or_create_library(s, "HUYEN1", "Thư viện huyện", kind="district", parent=lib)
        for name, role, code in USERS:
            create_user(s, name, PASSWORD.format(name), role=role, library=lib if code == "THV" else other)
    return sessions


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


class Staff:
    """A logged-in test client that remembers its CSRF token."""

    def __init__(self, client, username):
        self.client = client
        page = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"username": username, "password": PASSWORD.format(username),
                                               "csrf_token": csrf_from(page)})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.token = csrf_from(client.get("/").get_data(as_text=True))

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kw)


@pytest.fixture
def login(app, users):
    def _login(username):
        return Staff(app.test_client(), username)
    return _login


def speech_like(seconds: float, rng) -> np.ndarray:
    """Noise shaped by a 4 Hz syllable envelope, about −20 dBFS RMS."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    noise = rng.standard_normal(n)
    noise = np.convolve(noise, np.ones(8) / 8, mode="same")  # soften the top end
    x = noise * envelope
    return (x / np.sqrt(np.mean(x ** 2)) * 0.1).astype(np.float32)


def room_tone(seconds: float, rng) -> np.ndarray:
    return (rng.standard_normal(int(seconds * RATE)) * 10 ** (-68 / 20)).astype(np.float32)


def write_session(folder: Path) -> list[Path]:
    """Two takes: take 1 has a 2.5 s pause in the middle (two chapters), take 2 one chapter."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    take1 = np.concatenate([room_tone(0.8, rng), speech_like(5.0, rng), room_tone(2.5, rng),
                            speech_like(5.0, rng), room_tone(1.5, rng)])
    take2 = np.concatenate([room_tone(0.8, rng), speech_like(5.0, rng), room_tone(1.5, rng)])
    paths = []
    for name, data in (("take-01.wav", take1), ("take-02.wav", take2)):
        path = folder / name
        sf.write(str(path), data, RATE, subtype="PCM_16")
        paths.append(path)
    return paths


@pytest.fixture
def session_files(tmp_path) -> list[Path]:
    return write_session(tmp_path / "session")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """argon2 at production cost takes ~0.8 s per hash; the staff tests log in a lot."""
    from argon2 import PasswordHasher
    import catalog.accounts as accounts
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def write_master(path: Path, seconds: float, rng) -> None:
    data = np.concatenate([room_tone(0.6, rng), speech_like(seconds - 1.6, rng), room_tone(1.0, rng)])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, RATE, subtype="PCM_24", format="FLAC")


@pytest.fixture
def published_book(app, users):
    """A published book of library THV with two 8 s chapter masters (written directly, no pipeline)."""
    from catalog.books import create_book, publish
    from catalog.models import Chapter, Library
    from sqlalchemy import select
    services = app.extensions["sachnoi"]
    rng = np.random.default_rng(3)
    with services.sessions.begin() as s:
        lib = s.scalar(select(Library).where(Library.code == "THV"))
        book = create_book(s, library=lib, title="Truyện Kiều (bản thử)", authors=["Nguyễn Du"])
        offset = 0.0
        for position in (1, 2):
            key = f"derived/books/{book.uuid}/master/{position:02d}.flac"
            write_master(services.store.path(key), 8.0, rng)
            s.add(Chapter(book_id=book.id, position=position, title=f"Chương {position}", start_s=offset,
                          duration_s=8.0, master_key=key, qc={}, qc_passed=True, review_state="approved"))
            offset += 8.0
        book.duration_s = offset
        publish(s, book)
        return book.id
