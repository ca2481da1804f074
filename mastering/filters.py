"""Filter design and streaming filters: K-weighting, high-pass, hum notches, true-peak oversampling.

Coefficients are derived for the actual sample rate (bilinear transform of the analog prototypes,
pre-warped at the corner frequency), never a 48 kHz table reused. Streaming classes carry their
state across blocks so a signal filtered in blocks equals the signal filtered whole.
Blocks are float arrays shaped (frames, channels).
"""
from __future__ import annotations

import numpy as np
from scipy import signal

# BS.1770 K-weighting analog prototypes (as parametrised by Brecht De Man / libebur128):
# stage 1 high shelf (head), stage 2 high-pass (RLB).
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXP = 0.4996667741545416
_RLB_F0_HZ = 38.13547087602444
_RLB_Q = 0.5003270373238773


def k_weighting_sos(rate: float) -> np.ndarray:
    """K-weighting filter as second-order sections, shape (2, 6), for sample rate `rate` Hz.

    H(s) of each stage is bilinear-transformed with K = tan(pi f0 / rate), which reproduces the
    BS.1770 48 kHz coefficients to 1e-9 and keeps the same analog response at other rates.
    """
    k = np.tan(np.pi * _SHELF_F0_HZ / rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh ** _SHELF_VB_EXP
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [(vh + vb * k / _SHELF_Q + k * k) / a0, 2.0 * (k * k - vh) / a0,
             (vh - vb * k / _SHELF_Q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _SHELF_Q + k * k) / a0]
    k = np.tan(np.pi * _RLB_F0_HZ / rate)
    a0 = 1.0 + k / _RLB_Q + k * k
    rlb = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _RLB_Q + k * k) / a0]
    return np.array([shelf, rlb], dtype=np.float64)


def highpass_sos(rate: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Butterworth high-pass (bilinear, pre-warped), removes DC and rumble below `cutoff_hz`."""
    return signal.butter(order, cutoff_hz, btype="highpass", fs=rate, output="sos")


def notch_sos(rate: float, freqs_hz: list[float] | tuple[float, ...], q: float) -> np.ndarray:
    """Cascade of narrow notches at `freqs_hz` (those below 0.45 × rate), shape (n, 6)."""
    sections = []
    for f in freqs_hz:
        if 0 < f < 0.45 * rate:
            b, a = signal.iirnotch(f, q, fs=rate)
            sections.append(np.concatenate([b, a]))
    return np.array(sections, dtype=np.float64).reshape(-1, 6)


class SosFilter:
    """Streaming cascade of second-order sections over (frames, channels) float64 blocks."""

    def __init__(self, sos: np.ndarray, channels: int):
        self.sos = np.asarray(sos, dtype=np.float64)
        self.zi = np.zeros((self.sos.shape[0], 2, channels))

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.sos.shape[0] == 0 or block.shape[0] == 0:
            return block
        out, self.zi = signal.sosfilt(self.sos, block, axis=0, zi=self.zi)
        return out


def oversampling_factor(rate: float) -> int:
    """True-peak oversampling: 4× below 96 kHz, 2× below 192 kHz, none above (BS.1770-4 Annex 2)."""
    if rate < 96000:
        return 4
    if rate < 192000:
        return 2
    return 1


class TruePeakEnvelope:
    """Streaming inter-sample peak envelope.

    `process(block)` returns, per input frame, the largest absolute value (over channels) of the
    signal reconstructed by oversampling, on the interval between two input samples. The output
    lags the input by `delay` frames (so output j describes input frames j-delay .. j-delay+1).
    """

    TAPS_PER_PHASE = 12  # 49-tap interpolator at 4×, like the BS.1770 reference filter

    def __init__(self, rate: float, channels: int):
        self.factor = oversampling_factor(rate)
        t = self.TAPS_PER_PHASE
        self.delay = t // 2 + 1
        self.hist_len = t + 1
        self.hist = np.zeros((self.hist_len, channels))
        if self.factor > 1:
            f = self.factor
            self.h = signal.firwin(f * t + 1, 1.0 / f, window=("kaiser", 7.0)) * f
        else:
            self.h = None

    def skip(self, block: np.ndarray) -> None:
        """Advance over `block` without computing its envelope (keeps the history exact)."""
        ext = np.concatenate([self.hist, block], axis=0)
        self.hist = ext[ext.shape[0] - self.hist_len:]

    def _env(self, ext: np.ndarray, n: int) -> np.ndarray:
        """Envelope of the last n frames of `ext` (which has hist_len frames before them)."""
        base = ext.shape[0] - n - self.delay
        a = np.abs(ext[base:base + n]).max(axis=1)
        b = np.abs(ext[base + 1:base + 1 + n]).max(axis=1)
        env = np.maximum(a, b)
        if self.h is None:
            return env
        f, t = self.factor, self.TAPS_PER_PHASE
        y = signal.upfirdn(self.h, ext, up=f, axis=0)
        # up-sample index m sits at ext time (m - f*t/2)/f; take the f points from ext time base
        start = f * base + (f * t) // 2
        seg = y[start:start + f * n].reshape(n, -1)
        return np.maximum(env, np.maximum(seg.max(axis=1), -seg.min(axis=1)))

    def process(self, block: np.ndarray, threshold: float = 0.0, chunk: int = 256) -> np.ndarray:
        """Envelope of `block`, exact wherever it can exceed `threshold` (linear).

        Stretches whose samples (and the stretch before) stay under threshold/2 get only their
        sample peaks: band-limited audio does not overshoot its samples by 6 dB, and skipping
        them saves most of the oversampling work.
        """
        n = block.shape[0]
        ext = np.concatenate([self.hist, block], axis=0)
        self.hist = ext[ext.shape[0] - self.hist_len:]
        if n == 0:
            return np.zeros(0)
        if threshold <= 0.0 or self.h is None:
            return self._env(ext, n)
        peaks = np.abs(ext).max(axis=1)
        nc = -(-n // chunk)
        padded = np.zeros(nc * chunk)
        padded[:n] = peaks[self.hist_len:]
        cmax = padded.reshape(nc, chunk).max(axis=1)
        cand = cmax > 0.5 * threshold
        prev_hot = np.concatenate(([peaks[:self.hist_len].max() > 0.5 * threshold], cand[:-1]))
        cand = cand | prev_hot
        # cheap part: sample peaks on both sides of each interval
        base = self.hist_len - self.delay
        env = np.maximum(peaks[base:base + n], peaks[base + 1:base + 1 + n])
        if not cand.any():
            return env
        d = np.diff(np.concatenate(([0], cand.astype(np.int8), [0])))
        for c0, c1 in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            s0, s1 = c0 * chunk, min(c1 * chunk, n)
            env[s0:s1] = self._env(ext[s0:self.hist_len + s1], s1 - s0)
        return env


def true_peak(samples: np.ndarray, rate: float) -> float:
    """Largest true-peak value of a whole (frames, channels) array, linear (not dB)."""
    tp = TruePeakEnvelope(rate, samples.shape[1])
    env = tp.process(np.asarray(samples, dtype=np.float64))
    tail = tp.process(np.zeros((tp.delay + 1, samples.shape[1])))
    return float(max(env.max(initial=0.0), tail.max(initial=0.0)))
