"""Filter design and streaming filters: K-weighting, high-pass, hum notches, true-peak oversampling.

Coefficients are derived for the actual sample rate (bilinear transform of the analog prototypes,
pre-warped at the corner frequency), never a 48 kHz table reused. Streaming classes carry their
state across blocks so a signal filtered in blocks equals the signal filtered whole.
Blocks are float arrays shaped (frames, channels).
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

try:   # the kernel behind signal.sosfilt (in place on (signals, frames) and (signals, sections, 2))
    from scipy.signal._sosfilt import _sosfilt
except ImportError:   # a scipy that moved it: the public function, same numbers
    _sosfilt = None

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


def highpass_fir(rate: float, cutoff_hz: float, length_s: float = 0.05) -> np.ndarray:
    """Linear-phase (windowed-sinc) high-pass taps, odd length about `length_s`: -6 dB at
    `cutoff_hz`, -0.7 dB at 1.25 × cutoff, more than 50 dB down at a quarter of it (80 Hz at
    44.1 kHz). Linear phase delays every frequency alike, so a voice's waveform keeps its shape:
    a Butterworth's phase shift at the fundamental raised espeak-ng narration's peak-to-loudness
    ratio by about 1.4 dB, which the limiter then had to take off (STOI -0.02, bench_real_takes)."""
    n = int(round(rate * length_s)) | 1
    return signal.firwin(n, cutoff_hz, pass_zero=False, fs=rate)


class LatencyTrim:
    """For a stage with a fixed latency: drops its first `skip` output samples and counts the
    samples it gave (`given`), so its output lines up with its input."""
    skip: int
    given: int

    def _trim(self, y: np.ndarray) -> np.ndarray:
        if self.skip:
            k = min(self.skip, y.shape[0])
            y, self.skip = y[k:], self.skip - k
        self.given += y.shape[0]
        return y


class FirFilter:
    """Streaming FIR over (frames, channels) float64 blocks by FFT convolution, one transform of
    each block (the taps' spectrum is kept per FFT size: the runner's blocks are all one size,
    and scipy's `oaconvolve` re-transformed the taps every call, measured 2.3 s per 3 min take);
    output frame j is input frame j - `delay` (the taps' centre), same count out as in.

    The transforms are single precision: half the CPU (1.0 -> 0.45 s per pass over a 10 min take,
    the largest single cost of a pass), for an error of 1.3e-7 RMS on full-scale noise (about one
    24-bit step; under 1e-6 at worst); the ACX master of bench_mastering_cpu moved by -149 dBFS RMS."""

    def __init__(self, taps: np.ndarray, channels: int):
        self.taps = np.asarray(taps, np.float64)
        self.delay = (len(self.taps) - 1) // 2
        self.hist = np.zeros((len(self.taps) - 1, channels), np.float32)
        self.spectra: dict[int, np.ndarray] = {}

    def process(self, block: np.ndarray) -> np.ndarray:
        if block.shape[0] == 0:
            return np.zeros((0, self.hist.shape[1]))
        ext = np.concatenate([self.hist, block.astype(np.float32)])
        m = self.hist.shape[0]
        self.hist = ext[ext.shape[0] - m:]
        nfft = sp_fft.next_fast_len(ext.shape[0], real=True)
        h = self.spectra.get(nfft)
        if h is None:
            h = self.spectra[nfft] = sp_fft.rfft(self.taps, nfft).astype(np.complex64)[:, None]
        y = sp_fft.irfft(sp_fft.rfft(ext, nfft, axis=0) * h, nfft, axis=0)[m:ext.shape[0]]
        return y.astype(np.float64)


def notch_sos(rate: float, freqs_hz: list[float] | tuple[float, ...],
              q: float | list[float] | tuple[float, ...]) -> np.ndarray:
    """Cascade of narrow notches at `freqs_hz` (those below 0.45 × rate), shape (n, 6); `q` one
    for all or one per frequency."""
    qs = list(q) if isinstance(q, (list, tuple)) else [q] * len(freqs_hz)
    sections = []
    for f, qf in zip(freqs_hz, qs):
        if 0 < f < 0.45 * rate:
            b, a = signal.iirnotch(f, qf, fs=rate)
            sections.append(np.concatenate([b, a]))
    return np.array(sections, dtype=np.float64).reshape(-1, 6)


class SosFilter:
    """Streaming cascade of second-order sections over (frames, channels) float64 blocks.

    Calls scipy's kernel directly when it can: `signal.sosfilt` checks and rearranges its
    arguments on every call (0.1 ms, a quarter of the filter's CPU for the runner's blocks: three
    meters and the hum notches, 0.2 s per 10-minute take); the kernel gives the same numbers."""

    def __init__(self, sos: np.ndarray, channels: int):
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.zi = np.zeros((channels, self.sos.shape[0], 2))      # the kernel's layout

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.sos.shape[0] == 0 or block.shape[0] == 0:
            return block
        if _sosfilt is None:
            out, zi = signal.sosfilt(self.sos, block, axis=0, zi=self.zi.transpose(1, 2, 0))
            self.zi = np.ascontiguousarray(zi.transpose(2, 0, 1))
            return out
        x = np.array(np.asarray(block).T, np.float64, order="C")  # (channels, frames): filtered in place
        _sosfilt(self.sos, x, self.zi)
        return x.T


def windows(x: np.ndarray, size: int) -> np.ndarray:
    """Read-only (len(x) - size + 1, size) view of 1-D contiguous `x`: row i = x[i:i+size].

    numpy's `sliding_window_view` gives the same view after checks that cost ~50 µs a call
    (0.2 CPU s per 10-minute take from the true-peak envelopes' 4 000 calls)."""
    n = max(0, len(x) - size + 1)
    v = np.ndarray((n, size), x.dtype, x, 0, (x.itemsize, x.itemsize))
    v.flags.writeable = False
    return v


def hop_frames(x: np.ndarray, size: int, hop: int, k: int) -> np.ndarray:
    """Read-only (k, size, channels) view of C-contiguous (frames, channels) `x`: frame i =
    x[i·hop : i·hop + size] (`x` holds at least (k-1)·hop + size frames). See `windows`."""
    if k and (k - 1) * hop + size > x.shape[0]:
        raise ValueError("hop_frames: x is too short")
    it, ch = x.itemsize, x.shape[1]
    v = np.ndarray((k, size, ch), x.dtype, x, 0, (hop * ch * it, ch * it, it))
    v.flags.writeable = False
    return v


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

    The interpolator is a 12-taps-per-phase polyphase FIR (like the BS.1770-4 Annex 2 reference
    filter): phase 0 is the input sample itself, phases 1..factor-1 are a float32 product of a
    (factor-1, 12) matrix with a sliding 12-sample window, so no zero-stuffed signal is built.
    """

    TAPS_PER_PHASE = 12   # 49-tap interpolator at 4x, like the BS.1770 reference filter
    SPAN = 4096           # frames per matrix product (keeps the window in cache)
    CHUNK = 512           # frames per skip decision

    def __init__(self, rate: float, channels: int):
        self.factor = oversampling_factor(rate)
        t = self.TAPS_PER_PHASE
        self.delay = t // 2 + 1
        self.hist_len = t + 1
        self.hist = np.zeros((self.hist_len, channels))
        self.phases: np.ndarray | None = None   # (factor-1, taps) polyphase interpolator; None at 1x
        self.gain_bound = 1.0
        if self.factor > 1:
            f = self.factor
            h = signal.firwin(f * t + 1, 1.0 / f, window=("kaiser", 7.0)) * f
            # phase p between samples k and k+1 = window ext[k-5 .. k+6] . reversed h[p::f]
            self.phases = np.stack([h[p::f][:t][::-1] for p in range(1, f)]).astype(np.float32)
            # no interpolated value exceeds this times the largest |sample| under its window
            self.gain_bound = float(max(1.0, np.abs(self.phases).sum(axis=1).max())) * (1 + 1e-6)

    def skip(self, block: np.ndarray) -> None:
        """Advance over `block` without computing its envelope (keeps the history exact)."""
        ext = np.concatenate([self.hist, block], axis=0)
        self.hist = ext[ext.shape[0] - self.hist_len:]

    def _interp(self, phases: np.ndarray, ext: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Largest |interpolated value| for outputs lo..hi-1 of the block in `ext` (hist first)."""
        t = self.TAPS_PER_PHASE
        out = np.zeros(hi - lo, np.float32)
        for s in range(lo, hi, self.SPAN):
            e = min(hi, s + self.SPAN)
            o = out[s - lo:e - lo]
            for ch in range(ext.shape[1]):
                # output i covers ext[i+6] .. ext[i+7]; its window is ext[i+1 .. i+12]
                w = np.ascontiguousarray(ext[s + 1:e + t, ch], dtype=np.float32)
                v = windows(w, t)                                       # (n, t), no copy
                y = phases @ v.T                                        # (factor-1, n)
                np.abs(y, out=y)
                np.maximum(o, y.max(axis=0), out=o)
        return out

    def process(self, block: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """Envelope of `block`; exact wherever it can exceed `threshold` (linear), elsewhere the
        sample peaks (which are then also at or under `threshold`).

        The skip test is a bound, not a guess: an interpolated value is a 12-tap sum, so it is at
        most `gain_bound` times the largest |sample| under its window.
        """
        n = block.shape[0]
        ext = np.concatenate([self.hist, block], axis=0)
        self.hist = ext[ext.shape[0] - self.hist_len:]
        if n == 0:
            return np.zeros(0)
        # mono: numpy's max over an axis of length one costs 0.2 s per pass over a 10 min take
        peaks = np.abs(ext[:, 0]) if ext.shape[1] == 1 else np.abs(ext).max(axis=1)
        base = self.hist_len - self.delay
        env = np.maximum(peaks[base:base + n], peaks[base + 1:base + 1 + n])
        if self.phases is None:
            return env
        for s0, s1 in self._spans(peaks, n, threshold):
            np.maximum(env[s0:s1], self._interp(self.phases, ext, s0, s1), out=env[s0:s1])
        return env

    def peak(self, block: np.ndarray, threshold: float = 0.0) -> float:
        """The largest value `process(block, threshold)` returns (0 for no frames), without
        building the envelope: a meter needs only its maximum (three passes over the block fewer)."""
        n = block.shape[0]
        ext = np.concatenate([self.hist, block], axis=0)
        self.hist = ext[ext.shape[0] - self.hist_len:]
        if n == 0:
            return 0.0
        peaks = np.abs(ext[:, 0]) if ext.shape[1] == 1 else np.abs(ext).max(axis=1)
        base = self.hist_len - self.delay
        top = float(peaks[base:base + n + 1].max())       # the envelope's sample peaks
        if self.phases is not None:
            for s0, s1 in self._spans(peaks, n, threshold):
                top = max(top, float(self._interp(self.phases, ext, s0, s1).max()))
        return top

    def _spans(self, peaks: np.ndarray, n: int, threshold: float) -> list[tuple[int, int]]:
        """[start, stop) of the outputs to oversample: all of them for `threshold` <= 0, else
        the chunks whose windows' largest |sample| (`peaks`, of the block with the history
        first) times `gain_bound` exceeds `threshold`."""
        if threshold <= 0.0:
            return [(0, n)]
        c, t = self.CHUNK, self.TAPS_PER_PHASE
        nc = -(-n // c)
        # largest |sample| under the windows of each chunk of outputs [s, e): ext[s+1 .. e+11]
        wmax = np.zeros(nc * c + t)
        wmax[:n + t] = peaks[1:n + 1 + t]
        head = wmax[:nc * c].reshape(nc, c).max(axis=1)
        tail = wmax[t:t + nc * c].reshape(nc, c)[:, c - t:].max(axis=1)
        cand = np.maximum(head, tail) * self.gain_bound > threshold
        if not cand.any():
            return []
        d = np.diff(np.concatenate(([0], cand.astype(np.int8), [0])))
        return [(int(c0) * c, min(int(c1) * c, n)) for c0, c1 in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]


def true_peak(samples: np.ndarray, rate: float) -> float:
    """Largest true-peak value of a whole (frames, channels) array, linear (not dB)."""
    tp = TruePeakEnvelope(rate, samples.shape[1])
    env = tp.process(np.asarray(samples, dtype=np.float64))
    tail = tp.process(np.zeros((tp.delay + 1, samples.shape[1])))
    return float(max(env.max(initial=0.0), tail.max(initial=0.0)))
