"""Pause detection: stretches quieter than a threshold for at least a minimum time.

Measured on 50 ms RMS frames. A pause that touches the start or end of the file is room tone
at the head or tail, not a gap between two stretches of speech, and is reported separately.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PauseParams:
    threshold_dbfs: float = -50.0
    min_pause_s: float = 1.75
    frame_s: float = 0.05


@dataclass(frozen=True)
class Pause:
    start_s: float
    end_s: float
    level_dbfs: float  # RMS level of the pause

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def frame_levels_dbfs(samples: np.ndarray, rate: int, frame_s: float = 0.05) -> np.ndarray:
    """RMS level per frame (dBFS), channels averaged in power. samples: (frames, channels) float."""
    hop = max(1, int(round(rate * frame_s)))
    n = samples.shape[0] // hop
    if n == 0:
        return np.zeros(0)
    power = np.mean(np.square(samples[: n * hop].astype(np.float64)), axis=1).reshape(n, hop).mean(axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-20))


def pauses_from_levels(levels: np.ndarray, params: PauseParams = PauseParams()) -> list[Pause]:
    """Pauses from per-frame levels (dBFS), so long files can be measured block by block."""
    quiet = levels < params.threshold_dbfs
    pauses: list[Pause] = []
    i, n = 0, len(quiet)
    while i < n:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < n and quiet[j]:
            j += 1
        start_s, end_s = i * params.frame_s, j * params.frame_s
        touches_edge = i == 0 or j == n
        if not touches_edge and end_s - start_s >= params.min_pause_s:
            power = float(np.mean(10 ** (levels[i:j] / 10)))
            pauses.append(Pause(start_s, end_s, float(10 * np.log10(max(power, 1e-20)))))
        i = j
    return pauses
