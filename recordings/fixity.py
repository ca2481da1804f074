"""Fixity audit: re-hash every original and compare with its name (and the catalogue's list).

An original's name *is* its SHA-256, so the store can audit itself; the catalogue passes the
hashes it expects so a file that vanished is reported too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from recordings.store import MediaStore, sha256_file


@dataclass
class FixityReport:
    checked: int = 0
    bytes_checked: int = 0
    ok: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)  # (expected, actual, path)
    missing: list[str] = field(default_factory=list)          # expected by the catalogue, not on disk
    unknown: list[str] = field(default_factory=list)          # on disk, not in the catalogue (not an error)

    @property
    def passed(self) -> bool:
        return not self.mismatched and not self.missing

    def to_dict(self) -> dict:
        return {"checked": self.checked, "bytes_checked": self.bytes_checked, "ok": len(self.ok),
                "mismatched": [{"expected": e, "actual": a, "path": p} for e, a, p in self.mismatched],
                "missing": self.missing, "unknown": self.unknown, "passed": self.passed}


def audit(store: MediaStore, expected: Iterable[str] | None = None,
          progress: Callable[[int, int], None] | None = None) -> FixityReport:
    """Re-hash every original; `progress(bytes_done, bytes_total)` is called after each file."""
    report = FixityReport()
    on_disk = list(store.iter_originals())
    total = sum(path.stat().st_size for _sha, path in on_disk)
    seen: set[str] = set()
    for sha, path in on_disk:
        actual = sha256_file(path)
        report.checked += 1
        report.bytes_checked += path.stat().st_size
        seen.add(sha)
        if actual == sha:
            report.ok.append(sha)
        else:
            report.mismatched.append((sha, actual, str(Path(path))))
        if progress:
            progress(report.bytes_checked, total)
    if expected is not None:
        expected = set(expected)
        report.missing = sorted(expected - seen)
        report.unknown = sorted(seen - expected)
    return report
