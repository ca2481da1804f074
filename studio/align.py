"""Sentence timings of one section of text in one chapter of speech, on CPU (the method of aeneas).

    text ──espeak-ng -v vi──► synthetic speech, each sentence's span known
    synthetic and real speech ──► MFCC (librosa), mean/variance normalised per recording
    banded DTW of real against synthetic ──► each sentence's span mapped to the real audio
    each boundary moved to the nearest pause edge within ±150 ms; confidence from the local cost

Times are seconds of the audio given (the caller maps them to the master). Memory is bounded: the
real audio is read, resampled (soxr, streaming) and turned into features block by block (13 floats
per 40 ms: 4,7 MB per hour), and the DTW keeps two rows of cost and one byte of back-pointer per cell
of a band `margin_s` wide around the diagonal (1 hour, ±30 s: 135 MB). librosa's own `dtw` fills the
whole N×M cost matrix even with a band (an hour at 25 frames/s would be 65 GB), hence the banded DTW
here, compiled by numba (the library librosa itself compiles its DTW with).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import soundfile as sf

from studio.espeak import Voice, synthesise_many


@dataclass(frozen=True)
class AlignParams:
    rate_hz: int = 16000          # analysis rate
    hop_s: float = 0.04           # feature frame step (aeneas: 40 ms)
    window_s: float = 0.064       # MFCC analysis window
    n_mfcc: int = 13
    energy_hop_s: float = 0.01    # pause finding resolution
    margin_s: float = 30.0        # half width of the DTW band around the diagonal
    refine_s: float = 0.15        # a boundary moves to a pause edge at most this far
    gap_s: float = 0.3            # silence put between synthetic sentences (0.6 between paragraphs)
    voice: Voice | None = None    # None: chosen from the narrator's pitch (`voice_for`)
    pitch_probe_s: float = 90.0   # how much of the recording the narrator's pitch is measured on
    skip_ratio: float = 0.6       # a sentence given under this share of its expected length may be skipped
    repeat_ratio: float = 1.4     # a sentence given over this share of its expected length may be read twice
    low_confidence: float = 0.35  # below: a likely misreading


@dataclass
class Features:
    """MFCC frames (N, n_mfcc) every hop_s and energy (dB) every energy_hop_s of one recording."""
    mfcc: np.ndarray
    energy_db: np.ndarray
    duration_s: float
    median_f0_hz: float | None = None  # the narrator's pitch, on the first pitch_probe_s seconds


@dataclass(frozen=True)
class Timing:
    """Where one sentence is read (s), None when it is not found, with confidence 0..1 and the finding."""
    start_s: float | None
    end_s: float | None
    confidence: float
    issue: str = ""  # "" | skipped | repeated | low_confidence
    detail: dict = field(default_factory=dict)


# -- features, block by block ---------------------------------------------------------------------------
class _Framer:
    """Feeds a sample stream into whole analysis frames (frame_len, hop) and keeps the remainder,
    so processing block by block gives the same frames as processing the whole stream."""

    def __init__(self, frame_len: int, hop: int, analyse: Callable[[np.ndarray], np.ndarray]):
        self.frame_len, self.hop, self.analyse = frame_len, hop, analyse
        self.buf = np.zeros(0, np.float32)
        self.out: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, block])
        if len(self.buf) < self.frame_len:
            return
        n = 1 + (len(self.buf) - self.frame_len) // self.hop
        self.out.append(self.analyse(self.buf[:self.frame_len + (n - 1) * self.hop]))
        self.buf = self.buf[n * self.hop:]

    def finish(self) -> np.ndarray:
        if len(self.buf):
            self.feed(np.zeros(self.frame_len - len(self.buf) % self.hop, np.float32))
        return np.concatenate(self.out) if self.out else np.zeros((0,), np.float32)


class FeatureStream:
    """Samples at params.rate_hz in, `Features` out."""

    def __init__(self, params: AlignParams):
        # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
        import librosa
        self.params = params
        r = params.rate_hz
        n_fft = int(round(params.window_s * r))
        hop = int(round(params.hop_s * r))

        mel_basis = librosa.filters.mel(sr=r, n_fft=n_fft, n_mels=40, fmin=60, fmax=r / 2 - 500).astype(np.float32)

        def mfcc(y: np.ndarray) -> np.ndarray:
            # the mel projection as one matrix product: librosa's einsum path is ten times slower here
            power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=False)) ** 2
            mel = librosa.power_to_db(mel_basis @ power, top_db=None)  # no clamp to a block's own peak
            return librosa.feature.mfcc(S=mel, n_mfcc=params.n_mfcc).T.astype(np.float32)
        e_len = int(round(2 * params.energy_hop_s * r))
        e_hop = int(round(params.energy_hop_s * r))

        def energy(y: np.ndarray) -> np.ndarray:
            frames = np.lib.stride_tricks.sliding_window_view(y, e_len)[::e_hop]
            return (10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)).astype(np.float32)
        self.mfcc = _Framer(n_fft, hop, mfcc)
        self.energy = _Framer(e_len, e_hop, energy)
        self.samples = 0
        self.probe: list[np.ndarray] = []

    def feed(self, y: np.ndarray) -> None:
        if self.samples < self.params.pitch_probe_s * self.params.rate_hz:
            self.probe.append(y[:int(self.params.pitch_probe_s * self.params.rate_hz) - self.samples])
        self.samples += len(y)
        self.mfcc.feed(y)
        self.energy.feed(y)

    def finish(self) -> Features:
        m = self.mfcc.finish().reshape(-1, self.params.n_mfcc)
        probe = np.concatenate(self.probe) if self.probe else np.zeros(0, np.float32)
        return Features(m, self.energy.finish().reshape(-1), self.samples / self.params.rate_hz,
                        median_f0(probe, self.params.rate_hz))


def median_f0(y: np.ndarray, rate: int) -> float | None:
    """Median pitch (Hz) of the louder half of the frames (librosa's YIN), None without enough speech."""
    # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
    import librosa
    if len(y) < rate:
        return None
    frame = 1024
    f0 = librosa.yin(y, fmin=60, fmax=400, sr=rate, frame_length=frame, hop_length=frame // 2)
    rms = librosa.feature.rms(y=y, frame_length=frame, hop_length=frame // 2)[0][:len(f0)]
    loud = rms > np.median(rms)
    return float(np.median(f0[loud])) if loud.any() else None


FEMALE_F0_HZ = 165.0  # between typical men's (85–155 Hz) and women's (165–255 Hz) speaking pitch


def voice_for(real: Features, params: AlignParams) -> Voice:
    """The aligner's synthetic voice: the one asked for, else espeak-ng's Vietnamese voice in the
    narrator's register (a women's variant for a high voice). MFCC of a man's synthetic voice match a
    woman's narration so loosely that the path can slip by a sentence; the matching register keeps it."""
    if params.voice is not None:
        return params.voice
    if real.median_f0_hz is not None and real.median_f0_hz >= FEMALE_F0_HZ:
        return Voice("vi+f3")
    return Voice("vi")


def frame_time(i, params: AlignParams):
    """Centre time (s) of MFCC frame i."""
    return i * params.hop_s + params.window_s / 2


def features_of_file(path: str | Path, params: AlignParams = AlignParams(), block_s: float = 30.0) -> Features:
    """Features of an audio file, read and resampled block by block (bounded memory)."""
    # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
    import soxr
    with sf.SoundFile(str(path)) as f:
        stream = FeatureStream(params)
        resampler = None if f.samplerate == params.rate_hz else soxr.ResampleStream(
            f.samplerate, params.rate_hz, 1, dtype="float32")
        while True:
            block = f.read(int(block_s * f.samplerate), dtype="float32", always_2d=True)
            last = block.shape[0] == 0
            mono = block.mean(axis=1).astype(np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            stream.feed(mono)
            if last:
                break
    return stream.finish()


def features_of_samples(y: np.ndarray, rate: int, params: AlignParams = AlignParams()) -> Features:
    # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
    import soxr
    mono = y.mean(axis=1) if y.ndim > 1 else y
    if rate != params.rate_hz:
        mono = soxr.resample(mono, rate, params.rate_hz)
    stream = FeatureStream(params)
    stream.feed(np.asarray(mono, np.float32))
    return stream.finish()


# -- the synthetic reading --------------------------------------------------------------------------------
@dataclass
class Synthetic:
    features: Features
    spans: list[tuple[int, int]]  # each sentence's speech as MFCC frames [a, b)
    speech_s: float               # total speech (without the gaps), s


def speech_extent(y: np.ndarray, top_db: float = 40.0) -> tuple[int, int]:
    """[start, stop) samples of `y` louder than its peak minus top_db (librosa.effects.trim)."""
    # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
    import librosa
    if not len(y) or not np.any(y):
        return 0, 0
    _trimmed, (a, b) = librosa.effects.trim(y, top_db=top_db, frame_length=256, hop_length=64)
    return int(a), int(b)


def synthesise_section(sentences: Sequence[str], paragraphs: Sequence[int], params: AlignParams = AlignParams(),
                       progress: Callable[[float], None] | None = None) -> Synthetic:
    """Speak every sentence with espeak-ng, trim it, join them with gaps and take features as they
    are produced (never the whole synthetic section in memory)."""
    # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
    import soxr
    r = params.rate_hz
    rng = np.random.default_rng(0)
    stream = FeatureStream(params)
    # a faint dither: digital silence has no MFCC a room could match
    silence = lambda s: (rng.standard_normal(int(round(s * r))) * 1e-4).astype(np.float32)  # noqa: E731
    stream.feed(silence(0.5))
    bounds, speech = [], 0.0
    spoken, rate = synthesise_many(list(sentences), params.voice or Voice())
    for k, y in enumerate(spoken):
        a, b = speech_extent(y)
        y = soxr.resample(y[a:b], rate, r).astype(np.float32) if b > a else np.zeros(0, np.float32)
        y = y + (rng.standard_normal(len(y)) * 1e-4).astype(np.float32)
        start = stream.samples
        stream.feed(y)
        bounds.append((start, stream.samples))
        speech += len(y) / r
        new_paragraph = k + 1 < len(paragraphs) and paragraphs[k + 1] != paragraphs[k]
        stream.feed(silence(params.gap_s * (2 if new_paragraph else 1)))
        if progress:
            progress((k + 1) / len(sentences))
    stream.feed(silence(0.5))
    features = stream.finish()
    hop, half = params.hop_s * r, params.window_s * r / 2
    spans = []
    for a, b in bounds:
        fa = int(round((a - half) / hop))
        fb = max(fa + 1, int(round((b - half) / hop)))
        spans.append((max(0, fa), min(len(features.mfcc), fb)))
    return Synthetic(features, spans, speech)


def align_text(real: Features, sentences: Sequence[str], paragraphs: Sequence[int],
               params: AlignParams = AlignParams(), progress: Callable[[float], None] | None = None) -> list[Timing]:
    """The whole method for one section: synthesise in the narrator's register, then `align_section`."""
    params = replace(params, voice=voice_for(real, params))
    return align_section(real, synthesise_section(sentences, paragraphs, params, progress), params)


# -- banded DTW -------------------------------------------------------------------------------------------
def _normalise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)).astype(np.float32)


def _band_starts(n: int, m: int, width: int) -> np.ndarray:
    """First synthetic frame of each real frame's band: centred on the diagonal, inside [0, m - width]."""
    centre = np.arange(n) * (m - 1) / max(1, n - 1)
    return np.clip(np.round(centre - width / 2), 0, m - width).astype(np.int64)


def _dtw_kernel():
    # heavy import (librosa, numba: seconds), loaded only when a manuscript is aligned
    import numba

    @numba.njit(cache=True, nogil=True)
    def banded(x, y, lo, width):
        n, d = x.shape
        inf = np.float32(np.inf)
        prev = np.full(width, inf, np.float32)
        cur = np.full(width, inf, np.float32)
        back = np.zeros((n, width), np.uint8)  # 0 diagonal, 1 from (i-1, j), 2 from (i, j-1)
        for i in range(n):
            shift = lo[i] - lo[i - 1] if i > 0 else 0
            for w in range(width):
                j = lo[i] + w
                c = np.float32(0.0)
                for k in range(d):
                    t = x[i, k] - y[j, k]
                    c += t * t
                c = np.float32(math.sqrt(c))
                if i == 0 and w == 0 and lo[0] == 0:
                    cur[w] = c
                    continue
                best, move = inf, 0
                pw = w + shift  # column of (i-1, j) in the previous row
                if i > 0 and 1 <= pw <= width:
                    if prev[pw - 1] < best:
                        best, move = prev[pw - 1], 0      # (i-1, j-1)
                if i > 0 and 0 <= pw < width:
                    if prev[pw] < best:
                        best, move = prev[pw], 1          # (i-1, j)
                if w > 0 and cur[w - 1] < best:
                    best, move = cur[w - 1], 2            # (i, j-1)
                cur[w] = best + c
                back[i, w] = move
            prev, cur = cur, prev
        return back, prev[width - 1]

    return banded


_KERNEL = None


def banded_dtw(x: np.ndarray, y: np.ndarray, margin: int) -> np.ndarray:
    """The DTW path between x (N, d) and y (M, d) within ±margin frames of the diagonal, as an
    (L, 2) array of (i, j) from (0, 0) to (N-1, M-1). Euclidean local cost."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _dtw_kernel()
    n, m = len(x), len(y)
    width = int(min(m, 2 * margin + 1))
    lo = _band_starts(n, m, width)
    back, _cost = _KERNEL(np.ascontiguousarray(x), np.ascontiguousarray(y), lo, width)
    i, j = n - 1, m - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        move = back[i, j - lo[i]]
        if move == 0:
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
        if i < 0 or j < 0 or not 0 <= j - lo[i] < width:
            break  # cannot happen with a band that holds both corners; guards a corrupt back-pointer
        path.append((i, j))
    return np.array(path[::-1], dtype=np.int64)


# -- sentence timings -------------------------------------------------------------------------------------
def align_section(real: Features, synth: Synthetic, params: AlignParams = AlignParams()) -> list[Timing]:
    """Each sentence's timing in the real audio, with narration-QC findings (see `studio.narration_qc`)."""
    from studio.narration_qc import find_issues  # import cycle: narration_qc imports this module
    if not synth.spans:
        return []
    x, y = _normalise(real.mfcc), _normalise(synth.features.mfcc)
    if len(x) < 2 or len(y) < 2:
        return [Timing(None, None, 0.0, "skipped", {}) for _ in synth.spans]
    path = banded_dtw(x, y, int(round(params.margin_s / params.hop_s)))
    local = np.sqrt(((x[path[:, 0]] - y[path[:, 1]]) ** 2).sum(axis=1))
    first = np.full(len(y), len(x), np.int64)
    last = np.zeros(len(y), np.int64)
    np.minimum.at(first, path[:, 1], path[:, 0])
    np.maximum.at(last, path[:, 1], path[:, 0])
    # each sentence's mean local cost along its part of the path
    owner = np.full(len(y), -1, np.int64)
    for k, (a, b) in enumerate(synth.spans):
        owner[a:b] = k
    on_path = owner[path[:, 1]]
    costs = np.array([local[on_path == k].mean() if np.any(on_path == k) else np.inf
                      for k in range(len(synth.spans))])
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, [len(x), len(y)], size=(4000, 2))
    chance = float(np.median(np.sqrt(((x[pairs[:, 0]] - y[pairs[:, 1]]) ** 2).sum(axis=1))))
    confidence = confidence_from_costs(costs, chance)
    raw = []
    for (a, b), conf in zip(synth.spans, confidence):
        start = frame_time(first[a], params) - params.hop_s / 2
        end = frame_time(last[b - 1], params) + params.hop_s / 2
        raw.append((max(0.0, start), min(real.duration_s, max(start, end)), conf))
    refined = refine_to_pauses(raw, real.energy_db, params)
    return find_issues(refined, synth.spans, x, y, params)


def confidence_from_costs(costs: np.ndarray, chance: float) -> np.ndarray:
    """0..1 per sentence from its mean local DTW cost. Relative: a sentence as costly as the section's
    median scores 1, one 3 robust standard deviations (MAD) above it 0,5 (another voice matches the
    narrator only a little better than chance frame by frame, so an absolute scale does not separate
    them). Absolute: scaled down when the section as a whole matches barely better than frames taken at
    random (`chance`), e.g. a manuscript that is not what was read."""
    finite = costs[np.isfinite(costs)]
    if not len(finite):
        return np.zeros(len(costs))
    median = float(np.median(finite))
    spread = 1.4826 * float(np.median(np.abs(finite - median))) + 0.01 * chance
    z = (costs - median) / spread
    relative = 1.0 / (1.0 + np.exp(np.clip(1.5 * (z - 3.0), -50, 50)))
    overall = float(np.clip((chance - median) / (0.1 * chance), 0.0, 1.0))
    return np.clip(np.nan_to_num(relative * overall, nan=0.0), 0.0, 1.0)


def pause_threshold_db(energy_db: np.ndarray) -> float:
    """Energy (dB) under which a 10 ms frame counts as a pause: 30 % of the way from the room's floor
    (5th percentile) to the speech level (90th percentile)."""
    if not len(energy_db):
        return -60.0
    floor, speech = np.percentile(energy_db, [5, 90])
    return float(floor + 0.3 * (speech - floor))


def refine_to_pauses(raw: Iterable[tuple[float, float, float]], energy_db: np.ndarray,
                     params: AlignParams) -> list[tuple[float, float, float]]:
    """Move each start to the nearest speech onset and each end to the nearest offset within ±refine_s."""
    quiet = energy_db < pause_threshold_db(energy_db)
    onsets = np.flatnonzero(quiet[:-1] & ~quiet[1:]) + 1     # first loud frame after a pause
    offsets = np.flatnonzero(~quiet[:-1] & quiet[1:]) + 1    # first quiet frame after speech
    h = params.energy_hop_s

    def nearest(edges: np.ndarray, t: float, centre_offset: float) -> float:
        times = edges * h + centre_offset
        if not len(times):
            return t
        k = int(np.argmin(np.abs(times - t)))
        return float(times[k]) if abs(times[k] - t) <= params.refine_s else t
    out = []
    for start, end, conf in raw:
        s = nearest(onsets, start, h)
        e = nearest(offsets, end, 0.5 * h)
        out.append((s, max(s, e), conf))
    return out
