"""Reading a session folder: the takes, the optional `session.toml` and marker files.

Everything is checked before anything is stored, so a bad folder changes nothing.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordings.errors import NotAudioError
from recordings.probe import AUDIO_EXTENSIONS, AudioInfo, probe_audio
from studio.errors import SessionFolderError


@dataclass
class SessionFolder:
    path: Path
    takes: list[AudioInfo]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def book(self) -> dict[str, Any]:
        return self.settings.get("book", {})

    @property
    def chapter_titles(self) -> list[str]:
        return list(self.settings.get("chapters", {}).get("titles", []))


PAUSE_KEYS = ("threshold_dbfs", "min_pause_s", "min_chapter_s", "head_room_tone_s")


def check_settings(settings: dict[str, Any]) -> None:
    """The shapes ingest and the mark stage rely on: a wrong type in session.toml is a
    SessionFolderError here, not an AttributeError or an overflow in a later stage."""
    def need(ok: bool, where: str, vi: str, en: str) -> None:
        if not ok:
            raise SessionFolderError(f"session.toml: {where} phải là {vi} (must be {en})")

    def tables(value: Any, where: str) -> list[dict]:
        need(isinstance(value, list) and all(isinstance(v, dict) for v in value), where,
             "danh sách bảng", "an array of tables")
        return value

    need(isinstance(settings.get("book", {}), dict), "[book]", "một bảng", "a table")
    for number, take in enumerate(tables(settings.get("takes", []), "[[takes]]"), start=1):
        for key in ("file", "labels", "replaces"):
            if key in take or key == "file":
                need(_file_name_ok(take.get(key)), f"[[takes]] #{number} {key}", "tên tệp hợp lệ",
                     "a valid file name")
    chapters = settings.get("chapters", {})
    need(isinstance(chapters, dict), "[chapters]", "một bảng", "a table")
    tables(chapters.get("list", []), "[[chapters.list]]")
    titles = chapters.get("titles", [])
    need(isinstance(titles, list) and all(isinstance(t, str) for t in titles), "chapters.titles",
         "danh sách chuỗi", "an array of strings")
    for key in PAUSE_KEYS:
        need(_finite_number(chapters.get(key, 0.0)), f"chapters.{key}", "một số hữu hạn", "a finite number")
    tables(settings.get("cuts", []), "[[cuts]]")


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int past float's range
        return False


def _file_name_ok(name: Any) -> bool:
    """A non-empty file name the OS can take: no NUL, ≤ 255 bytes a part, ≤ 1024 in all."""
    if not isinstance(name, str) or not name or "\x00" in name:
        return False
    raw = name.encode("utf-8", "surrogatepass")
    return len(raw) <= 1024 and all(len(part) <= 255 for part in raw.split(b"/"))


def inside(folder: Path, name: str | Path, what: str = "Tệp") -> Path:
    """`folder / name` resolved (symlinks followed); SessionFolderError when that leaves `folder`."""
    candidate = (folder / name).resolve()
    if folder.resolve() not in candidate.parents:
        raise SessionFolderError(f"{what} nằm ngoài thư mục phiên (file outside the session folder): {name}")
    return candidate


def read_session_folder(folder: str | Path, probe=probe_audio) -> SessionFolder:
    """The takes (listed in session.toml, else every audio file) and settings; nothing outside
    `folder` is ever read, whether named by a path or reached through a symlink.
    `probe(path) -> AudioInfo` checks each take (`studio.intake` passes its time-limited one)."""
    folder = Path(folder)
    if not folder.exists():
        raise SessionFolderError(f"Không tìm thấy thư mục phiên ghi âm (session folder not found): {folder}")
    if not folder.is_dir():
        raise SessionFolderError(f"Không phải thư mục (not a folder): {folder}")
    settings: dict[str, Any] = {}
    toml_path = folder / "session.toml"
    if toml_path.is_file():
        toml_path = inside(folder, toml_path.name, "session.toml")
        try:
            settings = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, an int of > 4300 digits
            raise SessionFolderError(f"session.toml không hợp lệ (invalid session.toml): {exc}") from None
        check_settings(settings)
    names = [t["file"] for t in settings.get("takes", [])]
    if names:
        paths = [inside(folder, name) for name in names]
    else:
        paths = sorted(inside(folder, p.name) for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() not in
                        AUDIO_EXTENSIONS + (".toml", ".txt", ".json", ".md", ".cue"))
        if not paths:
            hint = f" (các tệp khác: {', '.join(others[:5])})" if others else ""
            raise SessionFolderError(f"Thư mục không có tệp âm thanh nào (no audio files in folder){hint}: {folder}")
    takes = []
    for path in paths:
        try:
            takes.append(probe(path))
        except NotAudioError as exc:
            raise SessionFolderError(str(exc)) from None
    return SessionFolder(path=folder, takes=takes, settings=settings)
