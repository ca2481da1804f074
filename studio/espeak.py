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


def synthesise_many(texts: list[str], voice: Voice = Voice()) -> tuple[list[np.ndarray], int]:
    """Each text spoken by `voice`: ([samples float32 (frames,)], rate_hz). One espeak-ng run per text
    (40–60 ms each here). Joining texts with SSML breaks in one run and cutting at the silences was
    tried and dropped: within a long run espeak-ng sometimes slowed down 2–3× part way through."""
    out, rate = [], 22050
    for text in texts:
        samples, rate = synthesise(text, voice)
        out.append(samples)
    return out, rate


def synthesise(text: str, voice: Voice = Voice(), *, timeout_s: float = 60.0) -> tuple[np.ndarray, int]:
    """(samples float32 shaped (frames,), rate_hz) of `text` spoken by `voice`. Text goes in on stdin,
    so a sentence that starts with "-" is never read as an option."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthesisError("Chưa cài espeak-ng (espeak-ng is not installed: apt-get install espeak-ng)")
    try:
        done = subprocess.run([exe, "-v", voice.name, "-s", str(int(voice.rate_wpm)), "-p", str(int(voice.pitch)),
                               "--stdout"], input=text.encode("utf-8"), capture_output=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"espeak-ng quá thời gian (timed out) sau {timeout_s:g} s") from None
    if done.returncode != 0 or len(done.stdout) < 44:
        raise SynthesisError(f"espeak-ng lỗi (failed): {done.stderr.decode('utf-8', 'replace').strip()[:200]}")
    samples, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=False)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)
