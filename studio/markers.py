"""Chapter marks and cut ranges for the takes of a session, from the most trusted source there is.

Trust order for chapter starts, per take (the first source that has any wins):
    1. Audacity label file beside the take (`<take stem>.txt` or `<take stem>.labels.txt`,
       or `labels = "..."` on the take in session.toml): `start<TAB>end<TAB>title` lines
    2. WAV `cue ` markers named by `LIST/adtl labl` (read by `recordings.riff`)
    3. a chapter list in session.toml: `[[chapters.list]] take = "...", start_s = 0.0, title = "..."`
    4. automatic detection at long pauses (`mastering.pauses`), run by the mark stage
A manuscript's headings propose further starts (`studio.narration`, source `manuscript`): staff
keep, move or delete them in the chapter editor; like labels they are never replaced by pauses.
Cut ranges (a fluffed line) come from every source: a range label or a cue region named `cut`
or `xoá`/`xoa`, or `[[cuts]] take = "...", start_s = ..., end_s = ...` in session.toml.
Every mark keeps its source, so staff can see why a boundary is there and move it.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import soundfile as sf

from mastering.pauses import PauseParams, frame_levels_dbfs, pauses_from_levels
from recordings.probe import AudioInfo, iter_blocks
from recordings.riff import read_cue_markers
from studio.errors import N_, SessionFolderError
from studio.session_folder import inside

MAX_TIME_S = 24 * 3600.0  # no take is longer (the probe refuses > 6 h); larger times overflow frame counts
CUT_NAMES = ("cut", "xoa")


@dataclass(frozen=True)
class MarkSpec:
    """A mark before it is a database row. Times are seconds in the take's own timeline."""
    kind: str                  # chapter | cut
    start_s: float
    end_s: float | None
    title: str
    source: str                # audacity | cue | session | pauses
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Label:
    start_s: float
    end_s: float
    title: str


def fold(text: str) -> str:
    """Lower-case without diacritics ('Xoá' → 'xoa'); đ by hand, it has no decomposition."""
    text = unicodedata.normalize("NFD", text.strip().lower()).replace("đ", "d")
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def is_cut_name(title: str) -> bool:
    name = fold(title)
    return any(name == c or name.startswith(c + " ") or name.startswith(c + ":") for c in CUT_NAMES)


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text.strip().replace(",", "."))  # Audacity writes the locale's decimal comma
    except ValueError:
        raise SessionFolderError(N_("%(where)s: thời điểm không hợp lệ %(text)s"), where=where,
                                 text=repr(text)) from None
    if not math.isfinite(value) or value < 0:
        raise SessionFolderError(N_("%(where)s: thời điểm phải là số giây không âm %(text)s"),
                                 where=where, text=repr(text))
    if value > MAX_TIME_S:
        raise SessionFolderError(N_("%(where)s: thời điểm quá lớn, quá 24 giờ %(text)s"), where=where,
                                 text=repr(text))
    return value


def parse_audacity_labels(text: str, where: str = "labels") -> list[Label]:
    """Audacity's label export. Spectral-selection lines (starting with a backslash) are skipped."""
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise SessionFolderError(N_("%(where)s:%(number)s: cần 'bắt đầu<TAB>kết thúc<TAB>tên'"),
                                     where=where, number=number)
        start = _seconds(parts[0], f"{where}:{number}")
        end = _seconds(parts[1], f"{where}:{number}")
        if end < start:
            raise SessionFolderError(N_("%(where)s:%(number)s: kết thúc trước bắt đầu."), where=where,
                                     number=number)
        labels.append(Label(start, end, parts[2].strip() if len(parts) > 2 else ""))
    return sorted(labels, key=lambda l: l.start_s)


def marks_from_labels(labels: Iterable[Label], source: str) -> list[MarkSpec]:
    marks = []
    for label in labels:
        if is_cut_name(label.title):
            if label.end_s > label.start_s:
                marks.append(MarkSpec("cut", label.start_s, label.end_s, label.title, source))
        else:
            marks.append(MarkSpec("chapter", label.start_s, None, label.title, source))
    return marks


def label_file_for(folder: Path, take: Path, take_cfg: dict[str, Any]) -> Path | None:
    if take_cfg.get("labels"):
        candidate = inside(folder, take_cfg["labels"], "Tệp nhãn")
        if not candidate.is_file():
            raise SessionFolderError(N_("Không tìm thấy tệp nhãn: %(name)s"), name=take_cfg["labels"])
        return candidate
    for name in (f"{take.stem}.txt", f"{take.stem}.labels.txt", f"{take.stem}_labels.txt"):
        if (take.parent / name).is_file():
            return inside(take.parent, name, "Tệp nhãn")
    return None


def take_marks(folder: Path, info: AudioInfo, settings: dict[str, Any]) -> list[MarkSpec]:
    """Chapter marks from the most trusted source for this take, plus cut ranges from all sources."""
    take = Path(info.path)
    take_cfg: dict[str, Any] = next(
        (t for t in settings.get("takes", []) if Path(t.get("file", "")).name == take.name), {})
    by_source: dict[str, list[MarkSpec]] = {}

    label_path = label_file_for(folder, take, take_cfg)
    if label_path is not None:
        text = label_path.read_text(encoding="utf-8-sig", errors="replace")
        by_source["audacity"] = marks_from_labels(parse_audacity_labels(text, label_path.name), "audacity")

    if info.format in ("WAV", "WAVEX", "RF64"):
        cues = []
        for cue in read_cue_markers(take):
            start = cue.frame / info.sample_rate
            if is_cut_name(cue.label):
                if cue.length_frames > 0:
                    cues.append(MarkSpec("cut", start, (cue.frame + cue.length_frames) / info.sample_rate,
                                         cue.label, "cue", {"cue_id": cue.cue_id, "frame": cue.frame}))
            else:
                cues.append(MarkSpec("chapter", start, None, cue.label, "cue",
                                     {"cue_id": cue.cue_id, "frame": cue.frame}))
        by_source["cue"] = cues

    listed = []
    for item in settings.get("chapters", {}).get("list", []):
        if Path(str(item.get("take", ""))).name == take.name:
            listed.append(MarkSpec("chapter", _seconds(str(item.get("start_s", 0)), "session.toml"), None,
                                   str(item.get("title", "")), "session"))
    for item in settings.get("cuts", []):
        if Path(str(item.get("take", ""))).name == take.name:
            start = _seconds(str(item.get("start_s")), "session.toml [[cuts]]")
            end = _seconds(str(item.get("end_s")), "session.toml [[cuts]]")
            if end <= start:
                raise SessionFolderError(N_("session.toml [[cuts]]: kết thúc phải sau bắt đầu."))
            listed.append(MarkSpec("cut", start, end, str(item.get("title", "cut")), "session"))
    by_source["session"] = listed

    marks = [m for source in ("audacity", "cue", "session") for m in by_source.get(source, []) if m.kind == "cut"]
    for source in ("audacity", "cue", "session"):
        chapters = [m for m in by_source.get(source, []) if m.kind == "chapter"]
        if chapters:
            marks.extend(chapters)
            break
    for mark in marks:
        if mark.start_s > info.duration_s:
            raise SessionFolderError(N_("%(take)s: mốc %(at)s s nằm sau cuối bản ghi (%(end)s s)."),
                                     take=take.name, at=f"{mark.start_s:.3f}", end=f"{info.duration_s:.3f}")
    return marks


# -- pause detection (least trusted) --------------------------------------------------------------------
@dataclass(frozen=True)
class PauseMarking:
    threshold_dbfs: float = -50.0
    min_pause_s: float = 1.75
    min_chapter_s: float = 10.0      # a split closer than this to the previous one is dropped
    head_room_tone_s: float = 0.75   # room tone left before a chapter's first word

    @classmethod
    def from_settings(cls, chapter_cfg: dict[str, Any], defaults: PauseMarking | None = None) -> PauseMarking:
        """A session's `[chapters]` table over `defaults` (the instance's settings)."""
        defaults = defaults or cls()
        return cls(*(float(chapter_cfg.get(f.name, getattr(defaults, f.name))) for f in fields(cls)))


def pause_marks(path: str | Path, params: PauseMarking = PauseMarking(),
                duration_s: float | None = None) -> list[MarkSpec]:
    """Chapter starts for one take from its long pauses (block by block), the take start included."""
    detect = PauseParams(threshold_dbfs=params.threshold_dbfs, min_pause_s=params.min_pause_s)
    info = sf.info(str(path))
    rate = info.samplerate
    duration_s = info.frames / rate if duration_s is None else duration_s
    hop = max(1, int(round(rate * detect.frame_s)))
    levels = [frame_levels_dbfs(block, rate, detect.frame_s) for block in iter_blocks(path, hop * 2048)]
    pauses = pauses_from_levels(np.concatenate(levels) if levels else np.zeros(0), detect)
    marks = [MarkSpec("chapter", 0.0, None, "", "pauses", {"reason": "take-start"})]
    for pause in pauses:
        start = round(max(pause.start_s, pause.end_s - params.head_room_tone_s), 3)
        if start - marks[-1].start_s < params.min_chapter_s or duration_s - start < params.min_chapter_s:
            continue
        marks.append(MarkSpec("chapter", start, None, "", "pauses",
                              {"pause_start_s": round(pause.start_s, 3), "pause_end_s": round(pause.end_s, 3),
                               "pause_dbfs": round(pause.level_dbfs, 1)}))
    return marks
