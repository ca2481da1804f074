"""The one module that runs espeak-ng: text → synthetic speech (float32 mono, with its rate).

The aligner hears what a sentence should sound like from here (`espeak-ng -v vi`); the alignment
benchmark makes its "narrators" here too, with other voices, rates and pitches.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from studio.errors import StudioError


class SynthesisError(StudioError):
    """espeak-ng is missing or failed on a text."""


@dataclass(frozen=True)
class Voice:
    name: str = "vi"          # espeak-ng voice, with an optional variant: "vi", "vi-vn-x-south+f3"
    rate_wpm: int = 175       # -s, words per minute
    pitch: int = 50           # -p, 0..99


BREAK_S = 1.5  # between sentences of one batch; espeak-ng writes it as exact zeros


def synthesise_many(texts: list[str], voice: Voice = Voice(), *, batch: int = 40) -> tuple[list[np.ndarray], int]:
    """Each text spoken by `voice`, as ([samples float32 (frames,)], rate_hz). One espeak-ng run per
    `batch` texts (a run costs 50–200 ms of start-up on a busy machine, a sentence ~10 ms of speech
    synthesis): the texts are joined by SSML breaks of BREAK_S and cut apart at those runs of exact
    zeros; a batch that does not cut into as many pieces is spoken one text at a time instead."""
    from xml.sax.saxutils import escape
    out: list[np.ndarray] = []
    rate = 22050
    for first in range(0, len(texts), batch):
        group = texts[first:first + batch]
        ssml = "<speak>" + "".join(f'{escape(t)}<break time="{int(BREAK_S * 1000)}ms"/>' for t in group) + "</speak>"
        samples, rate = synthesise(ssml, voice, ssml=True)
        pieces = _cut_at_breaks(samples, rate, len(group))
        if pieces is None:
            pieces = [synthesise(t, voice)[0] for t in group]
        out.extend(pieces)
    return out, rate


def _cut_at_breaks(samples: np.ndarray, rate: int, count: int) -> list[np.ndarray] | None:
    zero = np.concatenate([[0], (samples == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(zero)).reshape(-1, 2)
    breaks = edges[(edges[:, 1] - edges[:, 0]) >= int(0.8 * BREAK_S * rate)]
    if len(breaks) != count:
        return None
    starts = np.concatenate([[0], breaks[:-1, 1]])
    return [samples[a:b] for a, b in zip(starts, breaks[:, 0])]


def synthesise(text: str, voice: Voice = Voice(), *, timeout_s: float = 60.0,
               ssml: bool = False) -> tuple[np.ndarray, int]:
    """(samples float32 shaped (frames,), rate_hz) of `text` spoken by `voice`. Text goes in on stdin,
    so a sentence that starts with "-" is never read as an option."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthesisError("Chưa cài espeak-ng (espeak-ng is not installed: apt-get install espeak-ng)")
    try:
        done = subprocess.run([exe, "-v", voice.name, "-s", str(int(voice.rate_wpm)), "-p", str(int(voice.pitch)),
                               "--stdout", *(["-m"] if ssml else [])], input=text.encode("utf-8"), capture_output=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"espeak-ng quá thời gian (timed out) sau {timeout_s:g} s") from None
    if done.returncode != 0 or len(done.stdout) < 44:
        raise SynthesisError(f"espeak-ng lỗi (failed): {done.stderr.decode('utf-8', 'replace').strip()[:200]}")
    samples, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=False)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)
