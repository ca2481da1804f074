"""Narration QC against the manuscript: which sentences were skipped, read twice or likely misread.

Works on an alignment's raw result (`studio.align`): each sentence's span in the real audio and its
confidence. The rules:

- skipped: the sentence was given less than `skip_ratio` of the time it should take (its synthetic
  length × the narrator's pace), and the audio around it fits the text better without it;
- repeated: a sentence given more than `repeat_ratio` of its time (or a neighbour short enough for its
  second reading to fit in this one's extra time), where the audio around it fits the text better with
  that sentence read twice: a local model that allows re-entry (librosa's DTW on a few sentences);
- low confidence: confidence under `low_confidence` (a misreading, a noise, a different text).

`detail` holds the times staff need: {"at_s": where it is (or should be) read, "repeat_at_s": the second reading}.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from studio.align import AlignParams, Timing

REPEAT_GAIN = 0.97  # the text read twice must fit the audio at least 3 % better than read once
DOUBT = 0.7         # under this confidence a sentence's neighbourhood is searched for a repeat and a skip
PAIR_GAIN = 0.9     # a repeat and a skip together must fit at least 10 % better than the text as written


def local_fit(stretch: np.ndarray, pieces: Sequence[np.ndarray]) -> tuple[float, list[int]]:
    """(total cost along the path, first real frame of each piece) of the DTW of `stretch` against the
    pieces of synthetic features joined in order (librosa's DTW: these matrices are a few hundred
    frames on each side)."""
    from librosa.sequence import dtw  # heavy import (seconds), loaded only when a finding is checked
    synth = np.concatenate(pieces)
    if len(stretch) < 2 or len(synth) < 2:
        return np.inf, [0] * len(pieces)
    cost, path = dtw(X=stretch.T, Y=synth.T, metric="euclidean", backtrack=True)
    path = path[::-1]
    starts, offset = [], 0
    for piece in pieces:
        hits = path[path[:, 1] >= offset, 0]
        starts.append(int(hits.min()) if len(hits) else len(stretch))
        offset += len(piece)
    return float(cost[-1, -1]), starts


def find_issues(raw: Sequence[tuple[float, float, float]], spans: Sequence[tuple[int, int]], x: np.ndarray,
                y: np.ndarray, params: AlignParams) -> list[Timing]:
    """Timings with findings. raw: (start_s, end_s, confidence) per sentence; spans: synthetic frames;
    x, y: normalised MFCC of the real and synthetic audio."""
    hop = params.hop_s
    expected_s = np.array([(b - a) * hop for a, b in spans])
    given_s = np.array([e - s for s, e, _c in raw])
    usable = (expected_s > 0) & (given_s > 0)
    pace = float(np.median(given_s[usable] / expected_s[usable])) if usable.any() else 1.0
    ratio = given_s / np.maximum(1e-6, expected_s * pace)
    out = [Timing(s, e, float(c)) for s, e, c in raw]

    def stretch_of(first: int, last: int) -> tuple[np.ndarray, float]:
        lo = max(0.0, raw[first][0] - 0.3)
        hi = raw[last][1] + 0.3
        return x[int(lo / hop):int(np.ceil(hi / hop)) + 1], lo

    def piece(j: int) -> np.ndarray:
        """Sentence j's synthetic frames with the gap after it."""
        return y[spans[j][0]:spans[j + 1][0] if j + 1 < len(spans) else spans[j][1]]

    # the most collapsed first; a sentence found skipped is left out of its neighbours' tests
    for k in sorted((k for k in range(len(raw)) if ratio[k] < params.skip_ratio), key=lambda k: ratio[k]):
        if out[k].issue:
            continue
        # does the audio around it fit better without a sentence than with all? A skip often leaves a
        # neighbour collapsed too, the two sharing one reading's time (found with the benchmark: both were
        # flagged), so the sentence left out is the one whose absence fits best: k or a collapsed neighbour
        first, last = max(0, k - 1), min(len(raw) - 1, k + 1)
        stretch, _lo = stretch_of(first, last)
        kept = [j for j in range(first, last + 1) if j == k or out[j].issue != "skipped"]
        with_all, _ = local_fit(stretch, [piece(j) for j in kept])
        # (a neighbour read at its usual length is not a rival: a shorter text fits with less total cost,
        # which would pick it over the sentence really skipped)
        without = {j: local_fit(stretch, [piece(i) for i in kept if i != j] or [y[:0]])[0]
                   for j in kept if j == k or (abs(j - k) == 1 and ratio[j] < params.skip_ratio)}
        gone = min(without, key=lambda j: (without[j], j != k))
        if without[gone] > with_all:
            continue
        # the sentence read beside it takes the time the two shared; the skip is just before or after it
        takers = [k] if gone != k else [j for j in without if j != k]
        at = raw[gone][0]
        for j in takers:
            start, end = min(raw[j][0], raw[gone][0]), max(raw[j][1], raw[gone][1])
            out[j] = Timing(start, end, out[j].confidence)
            at = end if j < gone else start
        out[gone] = Timing(None, None, 0.0, "skipped", {"at_s": round(float(at), 2)})

    excess = given_s - expected_s * pace  # seconds more than the sentence should take
    for k in range(len(raw)):
        if out[k].issue or excess[k] < 0.3:
            continue
        best = None
        for cand in dict.fromkeys((k, max(0, k - 1), min(len(raw) - 1, k + 1))):
            # the extra time must hold most of a second reading of the candidate (a short sentence read
            # twice barely stretches a long neighbour, so the share is not enough on its own)
            if out[cand].issue or excess[k] < 0.6 * expected_s[cand] * pace or (
                    cand == k and ratio[k] <= params.repeat_ratio):
                continue
            first, last = max(0, cand - 1), min(len(raw) - 1, k + 1)
            stretch, lo = stretch_of(first, last)
            a0, b1 = spans[first][0], spans[last][1]
            plain, _ = local_fit(stretch, [y[a0:b1]])
            ca = spans[cand][0]
            nxt = spans[cand + 1][0] if cand + 1 < len(spans) else spans[cand][1]
            cost, starts = local_fit(stretch, [y[a0:ca], y[ca:nxt], y[ca:b1]])
            if best is None or cost / plain < best[0]:
                best = (cost / plain, cand, starts, lo)
        if best is not None and best[0] < REPEAT_GAIN:
            _gain, cand, starts, lo = best
            at, again = lo + starts[1] * hop, lo + starts[2] * hop
            ts, te, tc = raw[cand]
            out[cand] = Timing(min(ts, at), max(te, raw[k][1] if cand != k else te), float(tc), "repeated",
                               {"at_s": round(float(at), 2), "repeat_at_s": round(float(again), 2)})

    for k in range(len(raw)):
        if not out[k].issue and out[k].confidence < DOUBT:
            _repeat_and_skip(k, out, raw, stretch_of, piece, hop)

    for k, timing in enumerate(out):
        if not timing.issue and timing.confidence < params.low_confidence:
            out[k] = Timing(timing.start_s, timing.end_s, timing.confidence, "low_confidence",
                            {"at_s": round(float(timing.start_s or 0.0), 2)})
    return out


def _repeat_and_skip(k: int, out: list[Timing], raw, stretch_of, piece, hop: float) -> None:
    """A sentence read twice and another left out a little later leave every sentence its usual length,
    so the length tests above see nothing; the doubtful sentence k is then the second reading of its
    neighbour (found in QA with a real session). Around k, try the text with one sentence read twice and
    one left out; when that fits clearly better, mark both and re-time the sentences between them."""
    first, last = max(0, k - 2), min(len(raw) - 1, k + 2)
    window = list(range(first, last + 1))
    if any(out[j].issue for j in window):
        return
    stretch, lo = stretch_of(first, last)
    plain, _ = local_fit(stretch, [piece(j) for j in window])
    best = None
    for again in window:
        for gone in window:
            if gone == again:
                continue
            order = [j for i in window if i != gone for j in ((i, i) if i == again else (i,))]
            cost, starts = local_fit(stretch, [piece(j) for j in order])
            if best is None or cost < best[0]:
                best = (cost, again, gone, order, starts)
    if best is None or not best[0] < PAIR_GAIN * plain:
        return
    _cost, again, gone, order, starts = best
    # the confidences of the sentences between the two were measured on the shifted spans; they are now
    # timed by a clearly better fit, so they take the least confidence of the window's other sentences
    span = range(min(again, gone) + 1, max(again, gone))
    settled = [out[j].confidence for j in window if j not in span and j not in (again, gone)]
    retimed_confidence = min(settled) if settled else out[again].confidence
    at = [lo + s * hop for s in starts]
    ends = at[1:] + [raw[last][1]]
    first_reading = order.index(again)
    for j in window:
        if j == gone:
            following = [i for i, o in enumerate(order) if o > gone]
            where = at[following[0]] if following else raw[gone][0]
            out[j] = Timing(None, None, 0.0, "skipped", {"at_s": round(float(where), 2)})
        elif j == again:
            out[j] = Timing(round(at[first_reading], 3), round(ends[first_reading + 1], 3), out[j].confidence,
                            "repeated", {"at_s": round(float(at[first_reading]), 2),
                                         "repeat_at_s": round(float(at[first_reading + 1]), 2)})
        else:
            i = order.index(j)
            out[j] = Timing(round(at[i], 3), round(ends[i], 3),
                            retimed_confidence if j in span else out[j].confidence)
