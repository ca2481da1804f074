"""Generated narration with known sentence times: espeak-ng in another voice and pace than the aligner's."""
from __future__ import annotations

import numpy as np

from studio.align import speech_extent
from studio.espeak import Voice, synthesise

TEXT = ["Ngày xưa, ở một làng nhỏ ven sông, có hai anh em sống với nhau rất hoà thuận.",
        "Người anh tên là Tấn, người em tên là Lang.", "Cha mẹ mất sớm, hai anh em phải tự lo cho nhau.",
        "Một hôm, người anh lấy vợ, và ba người cùng sống dưới một mái nhà.",
        "Mùa thu năm ấy, trời mưa rất nhiều.", "Nước sông dâng cao, ngập cả cánh đồng lúa.",
        "Dân làng phải đi đắp đê suốt ngày đêm.", "Lang thấy anh vất vả thì thương lắm.",
        "Cậu quyết định ra đi tìm việc làm ở nơi khác.", "Đi mãi, đi mãi, cậu đến một khu rừng già."]


def narrate(sentences, voice: Voice, *, skip=(), repeat=(), seed: int = 0, noise_db: float = -55.0):
    """(samples float32 mono, rate, truth) where truth[k] = (start_s, end_s) of sentence k's (first)
    reading, None when skipped; `repeat`ed sentences are read twice in a row."""
    rng = np.random.default_rng(seed)
    parts, truth, t, rate = [], [], 0.0, 22050

    def add(y):
        nonlocal t
        parts.append(y.astype(np.float32))
        t += len(y) / rate
    add(np.zeros(int(0.8 * rate)))
    for k, text in enumerate(sentences):
        if k in skip:
            truth.append(None)
            continue
        for reading in range(2 if k in repeat else 1):
            y, rate_y = synthesise(text, voice)
            assert rate_y == rate
            a, b = speech_extent(y)
            if reading == 0:
                truth.append((t, t + (b - a) / rate))
            add(y[a:b])
            add(np.zeros(int(rng.uniform(0.3, 0.9) * rate)))
    audio = np.concatenate(parts)
    audio = audio + rng.standard_normal(len(audio)).astype(np.float32) * np.float32(10 ** (noise_db / 20))
    return audio, rate, truth
