"""Delivery profiles as data: loudness target, peak ceiling, QC limits, room tone, format.

A profile is a frozen dataclass; adding a profile is adding one entry to `PROFILES`.
Levels are dB (LUFS, dBTP, dBFS), durations are seconds, rates are Hz.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict
from typing import Literal

from mastering.errors import UnknownProfileError


@dataclass(frozen=True)
class DeliveryFormat:
    """An extra delivery file the profile asks for (the master itself is always FLAC 24-bit)."""

    codec: str                 # "mp3"
    extension: str             # "mp3"
    bitrate_kbps: int          # 192
    constant_bitrate: bool     # CBR when True
    sample_rate_hz: int        # 44100
    channels: int = 1


@dataclass(frozen=True)
class Profile:
    name: str
    title_vi: str
    title_en: str
    target_lufs: float                       # integrated loudness aimed at (BS.1770)
    ceiling_dbtp: float                      # maximum true peak allowed
    normalize_to: Literal["integrated_lufs", "rms_db"] = "integrated_lufs"
    target_rms_db: float | None = None       # used when normalize_to == "rms_db"
    loudness_tolerance_lu: float | None = 1.0  # QC: |integrated - target| limit; None = no rule
    rms_min_db: float | None = None          # QC: ACX-style whole-file RMS range
    rms_max_db: float | None = None
    noise_floor_max_db: float | None = None  # QC: room tone must be at or below this
    noise_floor_target_db: float = -65.0     # the expander pushes room tone down to about here
    head_room_tone_s: tuple[float, float] = (0.5, 1.0)
    tail_room_tone_s: tuple[float, float] = (1.0, 5.0)
    max_pause_s: float = 6.0                 # QC: longer pauses inside a chapter are flagged
    min_duration_s: float = 1.0
    max_duration_s: float | None = None
    sample_rate_hz: int | None = None        # delivery rate; None keeps the input rate
    delivery: DeliveryFormat | None = None
    limiter_margin_db: float = 0.5           # limiter aims this far under the ceiling (encoder overshoot)
    denoise: str = "off"                     # speech enhancement: "off" | "spectral" | "neural"
    plosive_control: bool = True             # low-frequency pops tamed (mastering.bands)
    deesser: bool = False                    # sibilance tamed (optional: a narrator's own ess is no fault)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "acx": Profile(
        name="acx",
        title_vi="ACX / Audible",
        title_en="ACX / Audible",
        target_lufs=-20.0,
        ceiling_dbtp=-3.0,
        normalize_to="rms_db",
        target_rms_db=-20.5,
        loudness_tolerance_lu=None,
        rms_min_db=-23.0,
        rms_max_db=-18.0,
        noise_floor_max_db=-60.0,
        noise_floor_target_db=-66.0,
        head_room_tone_s=(0.5, 1.0),
        tail_room_tone_s=(1.0, 5.0),
        max_duration_s=120 * 60.0,
        sample_rate_hz=44100,
        delivery=DeliveryFormat(codec="mp3", extension="mp3", bitrate_kbps=192,
                                constant_bitrate=True, sample_rate_hz=44100),
        limiter_margin_db=1.0,
    ),
    "library-streaming": Profile(
        name="library-streaming",
        title_vi="Thư viện — nghe trực tuyến (mặc định)",
        title_en="Library streaming (default)",
        target_lufs=-18.0,
        ceiling_dbtp=-1.5,
        loudness_tolerance_lu=1.0,
        noise_floor_max_db=-55.0,
        noise_floor_target_db=-62.0,
        head_room_tone_s=(0.5, 1.0),
        tail_room_tone_s=(1.0, 3.0),
    ),
    "podcast": Profile(
        name="podcast",
        title_vi="Podcast / đoạn giới thiệu",
        title_en="Podcast / promotion clips",
        target_lufs=-16.0,
        ceiling_dbtp=-1.0,
        loudness_tolerance_lu=1.0,
        noise_floor_max_db=-50.0,
        noise_floor_target_db=-60.0,
        head_room_tone_s=(0.2, 1.0),
        tail_room_tone_s=(0.5, 2.0),
    ),
    "ebu-r128": Profile(
        name="ebu-r128",
        title_vi="EBU R128 (phát thanh)",
        title_en="EBU R128 (broadcast)",
        target_lufs=-23.0,
        ceiling_dbtp=-1.0,
        loudness_tolerance_lu=0.5,
        noise_floor_max_db=None,
        noise_floor_target_db=-70.0,
        head_room_tone_s=(0.2, 1.0),
        tail_room_tone_s=(0.5, 3.0),
        limiter_margin_db=0.3,
    ),
}

DEFAULT_PROFILE = "library-streaming"


def get_profile(name: str) -> Profile:
    """The profile called `name`; raises `UnknownProfileError` listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UnknownProfileError(
            f"Không có hồ sơ xuất bản '{name}'; các hồ sơ có: {known} "
            f"(unknown delivery profile '{name}'; known: {known})") from None
