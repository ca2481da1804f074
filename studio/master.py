"""One file mastered with its delivery encode: the mastering runner's blocks fed to the delivery
encoder (`mastering` encodes nothing itself; `delivery` knows no chain)."""
from __future__ import annotations

import os

from delivery.ffmpeg import mp3_pipe
from mastering.profiles import Profile
from mastering.runner import MasterResult, master_file


def master_with_delivery(src: str | os.PathLike, dst: str | os.PathLike, profile: Profile | str, *,
                         delivery: str | os.PathLike | None = None, **options) -> MasterResult:
    """`mastering.runner.master_file` (same `options`), with the profile's delivery file (ACX: MP3
    CBR) written to `delivery` by ffmpeg from the same blocks. Raises `MasteringError` for the
    audio, `delivery.ffmpeg.FFmpegError` when the encode fails; neither leaves a file behind."""
    return master_file(src, dst, profile, delivery=delivery,
                       open_encoder=mp3_pipe if delivery is not None else None, **options)
