"""Reading a session folder: the takes, the optional `session.toml` and marker files.

Everything is checked before anything is stored, so a bad folder changes nothing.
"""
from __future__ import annotations

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


def read_session_folder(folder: str | Path) -> SessionFolder:
    folder = Path(folder)
    if not folder.exists():
        raise SessionFolderError(f"Không tìm thấy thư mục phiên ghi âm (session folder not found): {folder}")
    if not folder.is_dir():
        raise SessionFolderError(f"Không phải thư mục (not a folder): {folder}")
    settings: dict[str, Any] = {}
    toml_path = folder / "session.toml"
    if toml_path.is_file():
        try:
            settings = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SessionFolderError(f"session.toml không hợp lệ (invalid session.toml): {exc}") from None
    names = [t.get("file", "") for t in settings.get("takes", [])]
    if names:
        paths = []
        for name in names:
            candidate = (folder / name).resolve()
            if folder.resolve() not in candidate.parents:
                raise SessionFolderError(f"Tệp nằm ngoài thư mục phiên (take outside the folder): {name}")
            paths.append(candidate)
    else:
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() not in
                        AUDIO_EXTENSIONS + (".toml", ".txt", ".json", ".md", ".cue"))
        if not paths:
            hint = f" (các tệp khác: {', '.join(others[:5])})" if others else ""
            raise SessionFolderError(f"Thư mục không có tệp âm thanh nào (no audio files in folder){hint}: {folder}")
    takes = []
    for path in paths:
        try:
            takes.append(probe_audio(path))
        except NotAudioError as exc:
            raise SessionFolderError(str(exc)) from None
    return SessionFolder(path=folder, takes=takes, settings=settings)
