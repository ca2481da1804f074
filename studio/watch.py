"""The hot folder: session folders dropped into the inbox are ingested once their files stop growing.

A folder is ingested when nothing in it (names, sizes, modification times) has changed for
`settle_s` seconds. Its takes are then stored as originals, the draft book is created, a
production job is queued, and the folder moves to `_done/` (or to `_failed/` with a `LOI.txt`
that says why). Folders whose names start with `.` or `_` are ignored, so a copy tool's temporary
folder is never picked up.
"""
from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.context import Context, Decisions
from studio.errors import StudioError
from studio.jobs import record_failure
from studio.pipeline import ingest_folder
from studio.worker import enqueue_produce


@dataclass
class WatchResult:
    folder: str
    book_id: int | None = None
    job_id: int | None = None
    error: str = ""


def folder_signature(folder: Path) -> tuple:
    items = []
    for path in sorted(folder.rglob("*")):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed while we looked: the folder is still changing
            return ("changing", time.monotonic())
        if path.is_file():
            items.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(items)


@dataclass
class HotFolder:
    ctx: Context
    inbox: Path
    settle_s: float = 5.0
    decisions: Decisions = Decisions()
    log: Callable[[str], None] = lambda _msg: None
    _seen: dict[str, tuple[tuple, float]] = field(default_factory=dict)

    def __post_init__(self):
        self.inbox = Path(self.inbox)
        for sub in ("", "_done", "_failed"):
            (self.inbox / sub).mkdir(parents=True, exist_ok=True)

    def scan(self, now: float | None = None) -> list[WatchResult]:
        """One pass: ingest every folder that has been still for `settle_s`."""
        now = time.monotonic() if now is None else now
        results = []
        present = set()
        for folder in sorted(p for p in self.inbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            present.add(folder.name)
            signature = folder_signature(folder)
            previous = self._seen.get(folder.name)
            if previous is None or previous[0] != signature:
                self._seen[folder.name] = (signature, now)
                continue
            if not signature or now - previous[1] < self.settle_s:
                continue  # empty, or still settling
            results.append(self.ingest(folder))
            self._seen.pop(folder.name, None)
        for name in list(self._seen):
            if name not in present:
                del self._seen[name]
        return results

    def ingest(self, folder: Path) -> WatchResult:
        result = WatchResult(folder.name)
        try:
            result.book_id = ingest_folder(self.ctx, folder)
        except StudioError as exc:
            result.error = str(exc)
            target = self._move(folder, "_failed")
            (target / "LOI.txt").write_text(f"Không nhập được (could not ingest): {exc}\n", encoding="utf-8")
            record_failure(self.ctx.sessions, str(exc),
                           payload={"folder": folder.name, "moved_to": str(target)})
            self.log(f"{folder.name}: lỗi (failed): {exc}")
            return result
        stop = None if self.decisions.approve_marks else "mark"  # unapproved marks wait for review
        result.job_id = enqueue_produce(self.ctx, result.book_id, self.decisions, stop=stop)
        self._move(folder, "_done")
        self.log(f"{folder.name}: sách #{result.book_id}, việc #{result.job_id}")
        return result

    def _move(self, folder: Path, where: str) -> Path:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.inbox / where / f"{folder.name}-{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = self.inbox / where / f"{folder.name}-{stamp}-{n}"
        shutil.move(str(folder), str(target))
        return target

    def run(self, stop, interval_s: float = 2.0) -> None:
        while not stop.is_set():
            try:
                self.scan()
            except OSError as exc:
                self.log(f"Lỗi đọc thư mục nhận (inbox error): {exc}")
            stop.wait(interval_s)
