"""One file mastered with its delivery encode: the mastering runner's blocks fed to the delivery
encoder (`mastering` encodes nothing itself; `delivery` knows no chain)."""
from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

from delivery.ffmpeg import mp3_pipe
from mastering.profiles import Profile
from mastering.runner import MasterResult, master_file


def master_with_delivery(src: str | os.PathLike, dst: str | os.PathLike, profile: Profile | str, *,
                         delivery: str | os.PathLike | None = None, **options) -> MasterResult:
    """`mastering.runner.master_file` (same `options`), with the profile's delivery file (ACX: MP3
    CBR) written to `delivery` by ffmpeg from the same blocks. Raises `MasteringError` for the
    audio, `delivery.ffmpeg.FFmpegError` when the encode fails; neither leaves a file behind.

    Runs with one BLAS thread: the chain's BLAS calls are small (the plan's dot products over the
    ticks), and each woke OpenBLAS's second thread, which then spun waiting for more work (0.06
    CPU s per 10-minute ACX take, taken from the other worker under `--jobs 2`). Restored after."""
    with threadpool_limits(limits=1, user_api="blas"):
        return master_file(src, dst, profile, delivery=delivery,
                           open_encoder=mp3_pipe if delivery is not None else None, **options)
