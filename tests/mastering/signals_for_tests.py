"""Small generated signals for the mastering tests (imported by the test modules)."""
from __future__ import annotations

import numpy as np


def tone(db: float, seconds: float, rate: int = 48000, channels: int = 2, freq: float = 1000.0) -> np.ndarray:
    n = np.arange(int(round(seconds * rate)))
    x = 10 ** (db / 20) * np.sin(2 * np.pi * freq * n / rate)
    return np.repeat(x[:, None], channels, axis=1)


def narration(seconds: float, rate: int = 44100, seed: int = 0, noise_db: float = -55.0,
              hum_db: float = -50.0, lead_s: float = 0.3) -> np.ndarray:
    """Speech-like bursts (harmonic, syllable-modulated) at varying levels, pauses, noise, hum."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = np.zeros(n)
    t = int(lead_s * rate)
    while t < n - int(1.5 * rate):
        d = int(rng.uniform(0.8, 3.0) * rate)
        d = min(d, n - t - int(1.2 * rate))
        lvl = 10 ** (rng.uniform(-32, -18) / 20)
        k = np.arange(d)
        f0 = rng.uniform(100, 220)
        s = sum(np.sin(2 * np.pi * f0 * h * k / rate + rng.uniform(0, 6)) / h for h in range(1, 12))
        am = 0.5 * (1 - np.cos(2 * np.pi * k / d)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * k / rate))
        x[t:t + d] += lvl * s * am * 0.5
        t += d + int(rng.uniform(0.2, 1.2) * rate)
    x += 10 ** (noise_db / 20) * rng.standard_normal(n)
    x += 10 ** (hum_db / 20) * np.sin(2 * np.pi * 50 * np.arange(n) / rate)
    return x[:, None].astype(np.float32)




def daw_export(seconds: float, rate: int = 44100, seed: int = 0, noise_db: float = -60.0,
               head_s: float = 2.0, tail_s: float = 3.0) -> np.ndarray:
    """Narration with room noise between exact digital zeros at head and tail (a DAW export)."""
    z = np.zeros((int(head_s * rate), 1), np.float32)
    t = np.zeros((int(tail_s * rate), 1), np.float32)
    return np.concatenate([z, narration(seconds, rate, seed=seed, noise_db=noise_db), t])


def gated(seconds: float, rate: int = 44100, seed: int = 0) -> np.ndarray:
    """Narration whose pauses are exact zeros (no room at all: synthetic speech, a gated export)."""
    x = narration(seconds, rate, seed=seed, noise_db=-300.0, hum_db=-300.0)
    x[np.abs(x) < 1e-4] = 0.0
    return x


SENTENCES_VI = [
    "Thư viện tỉnh mở cửa từ bảy giờ sáng đến năm giờ chiều, kể cả thứ bảy và chủ nhật.",
    "Cuốn sách nói này được thu âm trong phòng thu của thư viện, dành cho bạn đọc khiếm thị.",
    "Mùa lũ năm ấy, cả làng cùng nhau dựng lại ngôi trường nhỏ bên bờ sông.",
]


def espeak_vi(text: str, rate: int = 44100) -> np.ndarray:
    """Vietnamese speech from espeak-ng (Debian), resampled to `rate`: a clean reference, (n, 1)."""
    import io
    import subprocess
    from math import gcd

    import soundfile as sf
    from scipy.signal import resample_poly
    wav = subprocess.run(["espeak-ng", "-v", "vi", "-s", "150", "--stdout", text],
                         capture_output=True, check=True, timeout=60).stdout
    x, r = sf.read(io.BytesIO(wav), dtype="float64")
    g = gcd(rate, r)
    y = resample_poly(x, rate // g, r // g)
    return (0.5 * y / np.max(np.abs(y)))[:, None].astype(np.float32)


def align(reference: np.ndarray, processed: np.ndarray, rate: int) -> np.ndarray:
    """`processed` shifted so it lines up with `reference` (cross-correlation of the first 4 s),
    cut or padded to the reference's length; 1-D."""
    a, b = reference[:, 0].astype(np.float64), processed[:, 0].astype(np.float64)
    n = min(len(a), len(b), 4 * rate)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    c = np.fft.irfft(np.fft.rfft(b[:n], size) * np.conj(np.fft.rfft(a[:n], size)), size)
    lag = int(np.argmax(c))
    lag = lag - size if lag > size // 2 else lag
    out = np.zeros(len(a))
    src = b[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), b])
    out[:min(len(a), len(src))] = src[:len(a)]
    return out


def espeak_narration(rate: int = 44100, level: float = 0.25, pause_s: float = 0.4,
                     sentences: int = len(SENTENCES_VI)) -> np.ndarray:
    """The Vietnamese sentences read in a row with short pauses, 0.7 s head, 1.5 s tail; digital
    zeros between words as espeak writes them. Clean reference, (n, 1) float32."""
    gap = np.zeros((int(pause_s * rate), 1), np.float32)
    parts = [np.zeros((int(0.7 * rate), 1), np.float32)]
    for s in SENTENCES_VI[:sentences]:
        parts += [espeak_vi(s, rate) * level, gap]
    parts.append(np.zeros((int(1.5 * rate), 1), np.float32))
    return np.concatenate(parts).astype(np.float32)
