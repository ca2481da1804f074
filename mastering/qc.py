"""QC: check measurements against a delivery profile; report rules, failed regions, plot data.

`check(measurements, profile, ...)` returns a `QCReport`; every rule carries the measured value
and the limit, and `failures` lists the rules that failed, Vietnamese first with English.
Regions are time ranges in seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mastering.meter import Measurements, SILENCE_DB
from mastering.profiles import Profile


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    measured: float | None
    limit: str
    message: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "passed": self.passed, "measured": self.measured,
                "limit": self.limit, "message": self.message}


@dataclass
class QCReport:
    profile: str
    passed: bool
    rules: list[RuleResult]
    regions: list[dict] = field(default_factory=list)
    measurements: dict = field(default_factory=dict)
    plot: dict = field(default_factory=dict)
    processing: dict = field(default_factory=dict)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    def to_dict(self) -> dict:
        return {"profile": self.profile, "passed": self.passed,
                "failures": [r.rule for r in self.failures],
                "rules": [r.to_dict() for r in self.rules], "regions": self.regions,
                "measurements": self.measurements, "processing": self.processing, "plot": self.plot}


def _v(x: float) -> float | None:
    return round(float(x), 2) if x is not None and math.isfinite(x) else None


def _rule(name: str, value: float, lo: float | None, hi: float | None, unit: str, what_vi: str,
          what_en: str) -> RuleResult:
    ok = math.isfinite(value) and (lo is None or value >= lo - 1e-9) and (hi is None or value <= hi + 1e-9)
    if lo is not None and hi is not None:
        limit = f"{lo:g}…{hi:g} {unit}"
    elif hi is not None:
        limit = f"≤ {hi:g} {unit}"
    else:
        limit = f"≥ {lo:g} {unit}"
    shown = f"{value:.2f}" if math.isfinite(value) else "không đo được (undefined)"
    verdict = "đạt (pass)" if ok else "KHÔNG ĐẠT (fail)"
    msg = f"{what_vi} {shown} {unit}, yêu cầu {limit} — {verdict} ({what_en})"
    return RuleResult(name, ok, _v(value), limit, msg)


def _runs(mask: np.ndarray, frame_s: float, min_frames: int = 1) -> list[tuple[float, float]]:
    """Time ranges (s) where mask is True for at least min_frames consecutive frames."""
    if not mask.any():
        return []
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(round(float(a * frame_s), 2), round(float(b * frame_s), 2)) for a, b in zip(starts, stops)
            if b - a >= min_frames]


def activity(m: Measurements, rms: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Speech/pause per 100 ms frame of a measured file and the threshold (dB) used; `rms`:
    `m.frames.rms_db` when the caller has it already."""
    fr = m.frames
    if fr is None:
        raise ValueError("activity() needs a measurement taken with its frame series")
    if rms is None:
        rms = fr.rms_db
    noise = m.noise_floor_db if math.isfinite(m.noise_floor_db) else -140.0
    speech = m.integrated_lufs if math.isfinite(m.integrated_lufs) else noise
    thr = noise + max(6.0, 0.4 * (speech - noise))
    return rms > thr, thr


MIN_SPEECH_OVER_NOISE_DB = 6.0   # speech must stand out of the room: noise or a steady tone does not
MAX_INPUT_CLIPPED_PERCENT = 5.0  # more than this is clipped throughout (a take clipped on its loud
                                 # syllables has about 1 %): nothing left to reconstruct


def _take_rules(processing: dict) -> list[RuleResult]:
    """Rules about the take itself, from what the plan found (so noise, a tone or a take clipped
    throughout fail naming the reason instead of being normalised into a passing file)."""
    rules = []
    speech, noise = processing.get("speech_loudness_in_lufs"), processing.get("noise_floor_in_db")
    if speech is not None and noise is not None:
        rules.append(_rule("speech_over_noise", float(speech) - float(noise), MIN_SPEECH_OVER_NOISE_DB,
                           None, "dB", "Tiếng nói cao hơn nền ồn (toàn tiếng ồn hoặc âm đơn?)",
                           "speech over noise: all noise or a steady tone?"))
    taken = processing.get("input") or {}
    if taken.get("duration_s") and taken.get("sample_rate"):
        frames = taken["duration_s"] * taken["sample_rate"]
        rules.append(_rule("input_clipping", 100.0 * taken.get("clipped_samples", 0) / frames, None,
                           MAX_INPUT_CLIPPED_PERCENT, "%", "Mẫu bị xén trong bản thu",
                           "clipped samples in the take"))
    return rules


def check(m: Measurements, profile: Profile, *, processing: dict | None = None,
          plot: bool = True) -> QCReport:
    """Check `m` against every rule the profile sets; regions need `m.frames` (from the meter)."""
    rules: list[RuleResult] = []
    regions: list[dict] = []
    p = profile
    if p.loudness_tolerance_lu is not None:
        rules.append(_rule("integrated_loudness", m.integrated_lufs, p.target_lufs - p.loudness_tolerance_lu,
                           p.target_lufs + p.loudness_tolerance_lu, "LUFS", "Độ to tích hợp",
                           "integrated loudness"))
    rules.append(_rule("true_peak", m.true_peak_dbtp, None, p.ceiling_dbtp, "dBTP", "Đỉnh thực",
                       "true peak"))
    if p.rms_min_db is not None or p.rms_max_db is not None:
        rules.append(_rule("rms", m.rms_db, p.rms_min_db, p.rms_max_db, "dB", "RMS", "RMS level"))
    if p.noise_floor_max_db is not None:
        rules.append(_rule("noise_floor", m.noise_floor_db, None, p.noise_floor_max_db, "dB",
                           "Nền ồn", "noise floor"))
    rules.append(_rule("duration_min", m.duration_s, p.min_duration_s, None, "s", "Thời lượng",
                       "duration"))
    if p.max_duration_s is not None:
        rules.append(_rule("duration_max", m.duration_s, None, p.max_duration_s, "s",
                           "Thời lượng tối đa", "maximum duration"))
    # an audiobook chapter is mono or stereo narration; 5.1 is a film mix uploaded by mistake
    rules.append(_rule("channels", float(m.channels), None, 2, "kênh", "Số kênh", "channels"))
    rules.append(_rule("clipping", float(m.clipped_samples), None, 0, "mẫu", "Mẫu bị xén",
                       "clipped samples"))
    fr = m.frames
    if fr is not None and len(fr):
        fs = fr.frame_s
        rms = fr.rms_db
        silent = ~(rms > SILENCE_DB)
        dead = _runs(silent, fs, min_frames=2)
        rules.append(_rule("no_dead_air", float(sum(b - a for a, b in dead)), None, 0, "s",
                           "Khoảng lặng số (im bặt)", "digital silence / dead air"))
        regions += [{"kind": "dead_air", "start_s": a, "end_s": b} for a, b in dead]
        regions += [{"kind": "clipping", "start_s": a, "end_s": b}
                    for a, b in _runs(fr.positive("clipped"), fs)]
        active, thr = activity(m, rms)
        pauses = _runs(~active, fs, min_frames=max(1, int(p.max_pause_s / fs)))
        inner = [(a, b) for a, b in pauses if a > 0 and b < round(len(fr) * fs, 2)]
        regions += [{"kind": "long_pause", "start_s": a, "end_s": b} for a, b in inner]
        if p.noise_floor_max_db is not None:
            noisy = (~active) & (rms > p.noise_floor_max_db)
            regions += [{"kind": "noise", "start_s": a, "end_s": b} for a, b in _runs(noisy, fs, 5)]
        if active.any():
            first = int(np.argmax(active))
            last = len(active) - 1 - int(np.argmax(active[::-1]))
            head = first * fs
            tail = (len(active) - 1 - last) * fs
        else:
            head = tail = math.nan
        hmin, hmax = p.head_room_tone_s
        tmin, tmax = p.tail_room_tone_s
        # 100 ms frames: allow one frame of measurement slack on each side
        rules.append(_rule("head_room_tone", head, hmin - fs, hmax + fs, "s", "Khoảng lặng đầu",
                           "room tone at head"))
        rules.append(_rule("tail_room_tone", tail, tmin - fs, tmax + fs, "s", "Khoảng lặng cuối",
                           "room tone at tail"))
        if not active.any():
            rules.append(RuleResult("speech_present", False, None, "> 0",
                                    "Không có tiếng nói: chỉ có im lặng, tiếng ồn hoặc một âm đơn "
                                    "(no speech: only silence, noise or a steady tone)"))
    rules += _take_rules(processing or {})
    passed = all(r.passed for r in rules)
    return QCReport(profile=p.name, passed=passed, rules=rules, regions=regions,
                    measurements=m.details(), plot=m.plot_data() if plot else {},
                    processing=processing or {})
