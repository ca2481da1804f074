"""Speech enhancement stage: stationary-noise reduction under the speech itself.

`denoise = "off" | "spectral" | "neural"`, per profile and per book (`ChainParams.denoise`).

spectral: an STFT Wiener filter with decision-directed a-priori SNR (Ephraim & Malah 1984), the
noise spectrum learned from the take's own room tone. Written here rather than taken from
`noisereduce` because the chain's contract is streaming: frames sit at absolute positions, so any
block size gives the same output with bounded memory, and the noise profile comes from the room
tone the plan already found; `noisereduce` works on whole arrays (or its own padded chunks) and
estimates noise its own way. The gain never goes under `floor_db` (no musical noise, no
underwater speech); the expander still handles the pauses.

neural: a model whose weights ship inside a PyPI wheel, behind `mastering.neural` (optional).

Samples are float64 (frames, channels); the stage has a fixed latency `delay` frames, which
`Aligned` removes so the rest of the chain sees positions unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastering import neural
from mastering.filters import LatencyTrim, hop_frames

MODES = ("off", "spectral", "neural")


@dataclass(frozen=True)
class SpectralParams:
    frame_ms: float = 32.0        # STFT frame (power of two frames at the rate, about this long)
    dd_alpha: float = 0.9         # decision-directed smoothing of the a-priori SNR (0.98: musical but duller)
    floor_db: float = -18.0       # deepest cut per bin
    over_subtraction: float = 1.0 # more costs STOI on the noisy corpus (measured 1.5: -0.01)


def _frame_len(rate: int, ms: float) -> int:
    return 1 << int(round(np.log2(rate * ms * 1e-3)))


def noise_psd(room_tone: np.ndarray, rate: int, params: SpectralParams = SpectralParams()) -> np.ndarray:
    """Mean power spectrum (bins, channels) of room tone under the stage's window; zeros if short."""
    n = _frame_len(rate, params.frame_ms)
    hop = n // 2
    win = np.sqrt(np.hanning(n + 1)[:n])
    x = np.asarray(room_tone, np.float64)
    k = (x.shape[0] - n) // hop + 1
    if k < 2:
        return np.zeros((n // 2 + 1, x.shape[1]))
    frames = np.stack([x[i * hop:i * hop + n] for i in range(k)])          # (k, n, ch)
    spec = np.fft.rfft(frames * win[None, :, None], axis=1)
    return np.mean(np.abs(spec) ** 2, axis=0)


class FrameMemo:
    """The frames of one stream a per-frame stage cut, by absolute frame index (sparse int64).

    The runner passes the same cleaned-up take through the plosive control and de-esser more than
    once; given the memo of an earlier pass over the identical input, a later pass analyses only
    the frames that were cut: a frame left at unit gain is the input itself (see `StftStage`)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.recorded = 0                 # frames 0 .. recorded-1 are known

    def record(self, f0: int, cut: np.ndarray) -> None:
        """Frames f0 .. f0+len(cut)-1 were analysed; `cut` (bool) marks those cut."""
        if f0 == self.recorded:
            idx = np.flatnonzero(cut)
            if len(idx):   # most blocks cut nothing: no empty array per block (1 MB per hour)
                self.parts.append(f0 + idx)
            self.recorded += len(cut)

    def known(self, f0: int, k: int) -> np.ndarray | None:
        """Offsets from f0 of the cut frames among f0 .. f0+k-1; None if not all recorded."""
        if f0 + k > self.recorded:
            return None
        if len(self.parts) != 1:
            self.parts = [np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64)]
        cut = self.parts[0]
        lo, hi = np.searchsorted(cut, [f0, f0 + k])
        return cut[lo:hi] - f0


class StftStage:
    """Streaming STFT with a per-frame gain per bin; sqrt-Hann analysis and synthesis at 50 %
    overlap (sums to one), frames at absolute positions, so any block size gives the same output.
    All the frames a block completes are transformed at once (one FFT call, not one per frame).
    Subclasses give `gains(spec) -> (frames, bins, channels)`, or None when no frame is cut.

    A hop whose two frames (the one ending and the one starting there) are both left at unit gain
    is the input itself: no inverse FFT and no overlap-add for it (the plosive stage leaves almost
    every frame alone, and this was a third of a master's CPU time). Decided per frame, so block
    sizes never matter."""

    def __init__(self, rate: int, channels: int, frame_ms: float):
        self.n = _frame_len(rate, frame_ms)
        self.hop = self.n // 2
        self.win = np.sqrt(np.hanning(self.n + 1)[:self.n])[:, None]
        self.buf = np.zeros((self.n, channels))      # the last frame taken
        self.carry = np.zeros((self.hop, channels))  # second half of the last frame's output
        self.carry_cut = False                        # was the last frame cut
        self.delay = self.n - self.hop
        self.tail = self.n                            # zeros that push every input frame out
        self.pending = np.zeros((0, channels))
        self.memo: FrameMemo | None = None            # only for a stage whose gains are per frame (no state)
        self.frame_no = 0                             # absolute index of the next frame

    def gains(self, spec: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def may_cut(self, stream: np.ndarray, k: int) -> np.ndarray | None:
        """Which of the k frames in `stream` ((k + 1)·hop frames, frame i at i·hop) may get a
        gain other than one: bool (k,), or None for all. Frames ruled out are not transformed.
        Default None: a stage whose gains carry state from frame to frame must see every frame."""
        return None

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.pending, block]) if len(self.pending) else block
        k = x.shape[0] // self.hop
        self.pending = x[k * self.hop:].copy()
        if k == 0:
            return np.zeros((0, block.shape[1]))
        hop = self.hop
        stream = np.concatenate([self.buf[hop:], x[:k * hop]])
        frames = hop_frames(stream, self.n, hop, k)                                     # (k, n, ch)
        self.buf = frames[-1].copy()
        f0, self.frame_no = self.frame_no, self.frame_no + k
        known = self.memo.known(f0, k) if self.memo is not None else None
        # the frames analysed: those an earlier pass over the same input cut, else all of them
        # but those the stage rules out (`may_cut`)
        some = known
        if known is None:
            may = self.may_cut(stream, k)
            some = None if may is None or may.all() else np.flatnonzero(may)
        sel = np.arange(k) if some is None else some
        if some is None:
            windowed = frames * self.win
        else:
            windowed = frames[some]                # a copy: windowed in place
            windowed *= self.win
        spec = np.fft.rfft(windowed, axis=1) if len(sel) else None
        g = self.gains(spec) if spec is not None else None
        cut = np.zeros(k, bool)
        at_sel = np.full(k, -1)
        at_sel[sel] = np.arange(len(sel))
        if g is not None:
            cut[sel] = (g != 1.0).any(axis=(1, 2))
        if self.memo is not None and known is None:
            self.memo.record(f0, cut)
        # output hop j = second half of frame j-1's output + first half of frame j's = stream[j*hop:(j+1)*hop];
        # `stream` is this call's own array and its first k hops are not read after this (the
        # frames needed are copied out first, the carry lies past them): changed in place
        out = stream[:k * hop]
        before = np.concatenate(([self.carry_cut], cut[:-1]))
        touched = np.flatnonzero(cut | before)
        if len(touched):
            need = np.union1d(touched, touched - 1)
            need = need[need >= 0]
            at = np.full(k, -1)
            at[need] = np.arange(len(need))
            y = frames[need] * self.win * self.win
            c = np.flatnonzero(cut)
            if g is not None and spec is not None and len(c):
                y[at[c]] = np.fft.irfft(spec[at_sel[c]] * g[at_sel[c]], self.n, axis=1) * self.win
            hops = out.reshape(k, hop, -1)
            hops[touched] = y[at[touched], :hop]
            later = touched[touched > 0]
            hops[later] += y[at[later - 1], hop:]
            if touched[0] == 0:
                hops[0] += self.carry
        last = k - 1
        if cut[last]:
            self.carry = y[at[last], hop:].copy()
        else:
            self.carry = frames[last, hop:] * self.win[hop:] * self.win[hop:]
        self.carry_cut = bool(cut[last])
        return out


class SpectralDenoiser(StftStage):
    """Streaming STFT Wiener filter (decision-directed a-priori SNR, gain floored)."""

    def __init__(self, rate: int, channels: int, psd: np.ndarray, params: SpectralParams = SpectralParams()):
        super().__init__(rate, channels, params.frame_ms)
        self.noise = np.maximum(np.asarray(psd, np.float64) * params.over_subtraction, 1e-20)
        self.alpha = params.dd_alpha
        self.gmin = 10.0 ** (params.floor_db / 20.0)
        self.prev = np.zeros_like(self.noise)         # |G·X|² of the previous frame

    def gains(self, spec: np.ndarray) -> np.ndarray:
        p = np.abs(spec) ** 2
        g = np.empty_like(p)
        for i in range(p.shape[0]):                   # the a-priori SNR carries from frame to frame
            post = p[i] / self.noise
            prio = self.alpha * self.prev / self.noise + (1 - self.alpha) * np.maximum(post - 1.0, 0.0)
            g[i] = np.maximum(prio / (1.0 + prio), self.gmin)
            self.prev = g[i] * g[i] * p[i]
        return g


class Aligned(LatencyTrim):
    """Removes a streaming stage's latency: the same number of frames out as in, in place."""

    def __init__(self, stage, channels: int):
        self.stage, self.channels = stage, channels
        self.skip = stage.delay
        self.taken = 0
        self.given = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        self.taken += block.shape[0]
        return self._trim(self.stage.process(block))

    def finish(self) -> np.ndarray:
        """The last frames (zeros pushed through); afterwards out == in."""
        out = []
        for _ in range(8):
            if self.given >= self.taken:
                break
            need = self.taken - self.given + self.skip + self.stage.tail
            out.append(self._trim(self.stage.process(np.zeros((need, self.channels)))))
        y = np.concatenate(out) if out else np.zeros((0, self.channels))
        return y[:max(0, y.shape[0] - (self.given - self.taken))]


def make_stage(mode: str, rate: int, channels: int, room_tone: np.ndarray | None,
               speech_lufs: float | None = None) -> tuple[Aligned | None, str]:
    """The enhancement stage for `mode` and the mode actually used (neural falls back to spectral
    when its optional package is not installed; spectral needs room tone to learn from).
    `speech_lufs`: the take's speech loudness (the neural model is fed speech at its own level)."""
    if mode not in MODES:
        raise ValueError(f"denoise must be one of {MODES}, not {mode!r}")
    if mode == "neural":
        if neural.available():
            return Aligned(neural.NeuralDenoiser(rate, channels, room_tone, speech_lufs=speech_lufs), channels), "neural"
        mode = "spectral"
    if mode == "spectral" and room_tone is not None and room_tone.shape[0] >= rate // 4:
        return Aligned(SpectralDenoiser(rate, channels, noise_psd(room_tone, rate)), channels), "spectral"
    return None, "off"
