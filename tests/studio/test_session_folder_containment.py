"""Session folder containment (issue 14.8): nothing outside the folder is read, with or without a
list of takes in session.toml.

Attack: symlink escape from the hot folder (the class Jellyfin and Navidrome shipped for media
paths). Someone who can drop a folder in the inbox plants `b.wav -> /elsewhere/secret.wav` (or a
label file pointing at any text file) and leaves session.toml without `[[takes]]`: the folder scan
followed the link and copied the outside audio into the originals.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import func, select

from catalog.models import Book, Original
from studio.errors import SessionFolderError
from studio.session_folder import read_session_folder

RATE = 22050


def _tone(path: Path, seconds: float = 0.6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(str(path), (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE, subtype="PCM_16")
    return path


@pytest.fixture
def folders(tmp_path):
    outside = _tone(tmp_path / "elsewhere" / "secret.wav")
    session = tmp_path / "inbox" / "phien-1"
    _tone(session / "a.wav")
    return session, outside


def test_symlinked_take_outside_the_folder_is_refused_without_a_takes_list(folders):
    session, outside = folders
    os.symlink(outside, session / "b.wav")
    with pytest.raises(SessionFolderError, match="b.wav"):
        read_session_folder(session)
    (session / "session.toml").write_text('[book]\ntitle = "Sách thử"\n', encoding="utf-8")
    with pytest.raises(SessionFolderError, match="outside the session folder"):
        read_session_folder(session)


def test_ingest_of_such_a_folder_stores_nothing(ctx, folders):
    """The hot folder's own entry point: a clear error, no book, no original copied."""
    from studio.pipeline import ingest_folder
    session, outside = folders
    os.symlink(outside, session / "b.wav")
    with pytest.raises(SessionFolderError):
        ingest_folder(ctx, session)
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Book)) == 0
        assert s.scalar(select(func.count()).select_from(Original)) == 0


def test_symlinked_session_toml_and_label_file_outside_are_refused(folders, tmp_path):
    """A session.toml or an Audacity label file beside a take that links out is not read either."""
    from studio.markers import take_marks
    session, _ = folders
    (tmp_path / "elsewhere" / "passwd.txt").write_text("0\t0\troot:x:0:0\n", encoding="utf-8")
    os.symlink(tmp_path / "elsewhere" / "passwd.txt", session / "a.txt")
    folder = read_session_folder(session)
    with pytest.raises(SessionFolderError, match="a.txt"):
        take_marks(folder.path, folder.takes[0], folder.settings)
    (tmp_path / "elsewhere" / "session.toml").write_text('[book]\ntitle = "Khác"\n', encoding="utf-8")
    os.symlink(tmp_path / "elsewhere" / "session.toml", session / "session.toml")
    with pytest.raises(SessionFolderError, match="session.toml"):
        read_session_folder(session)


def test_symlinks_inside_the_folder_still_work(folders):
    session, _ = folders
    _tone(session / "raw" / "c.wav")
    os.symlink(session / "raw" / "c.wav", session / "c.wav")
    names = sorted(Path(t.path).name for t in read_session_folder(session).takes)
    assert names == ["a.wav", "c.wav"]
