"""Fixity audit: re-hash every original and compare with its name (and the catalogue's list).

An original's name *is* its SHA-256, so the store can audit itself; the catalogue passes the
hashes it expects so a file that vanished is reported too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from recordings.errors import MissingMediaError
from recordings.store import MediaStore, sha256_stream


@dataclass
class FixityReport:
    checked: int = 0
    bytes_checked: int = 0
    ok: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)  # (expected, actual, key)
    missing: list[str] = field(default_factory=list)          # expected by the catalogue, not in the store
    unknown: list[str] = field(default_factory=list)          # stored, not in the catalogue (not an error)

    @property
    def passed(self) -> bool:
        return not self.mismatched and not self.missing

    def to_dict(self) -> dict:
        return {"checked": self.checked, "bytes_checked": self.bytes_checked, "ok": len(self.ok),
                "mismatched": [{"expected": e, "actual": a, "path": p} for e, a, p in self.mismatched],
                "missing": self.missing, "unknown": self.unknown, "passed": self.passed}


def audit(store: MediaStore, expected: Iterable[str] | None = None,
          progress: Callable[[int, int], None] | None = None) -> FixityReport:
    """Re-hash every original, streamed from the store (a local folder or an object store: nothing
    is cached); `progress(bytes_done, bytes_total)` is called after each file. A mismatch names the
    original's key."""
    report = FixityReport()
    stored = list(store.list("originals"))
    total = sum(size for _key, size in stored)
    seen: set[str] = set()
    for key, size in stored:
        sha = key.rsplit("/", 1)[1].split(".")[0]
        try:
            actual = sha256_stream(store.open(key))
        except MissingMediaError:  # removed while the audit ran: reported as missing below
            continue
        report.checked += 1
        report.bytes_checked += size
        seen.add(sha)
        if actual == sha:
            report.ok.append(sha)
        else:
            report.mismatched.append((sha, actual, key))
        if progress:
            progress(report.bytes_checked, total)
    if expected is not None:
        expected = set(expected)
        report.missing = sorted(expected - seen)
        report.unknown = sorted(seen - expected)
    return report
