"""What every production step needs: the database session factory, the media store, settings."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from sqlalchemy.orm import Session, sessionmaker

from recordings.store import MediaStore

Progress = Callable[[float], None]  # fraction done, 0..1


@dataclass(frozen=True)
class StudioSettings:
    """The settings studio reads, typed. Defaults and meanings live in one list (web.config.SETTINGS);
    sizes in MB, times in seconds."""
    default_library: str
    default_library_name: str
    default_profile: str
    inbox: str
    workers: int                  # parallel encodes of one book; worker threads of a pool
    job_max_attempts: int
    job_lease_s: float
    job_time_limit_s: float       # one message (a book-level stage, one part) at most
    job_resend_s: float           # a row left queued this long gets another message
    disk_full_floor_mb: float
    tmp_sweep_age_s: float
    tmp_sweep_every_s: float
    max_upload_mb: float
    user_quota_mb: float
    upload_disk_reserve_mb: float
    probe_timeout_s: float
    max_decoded_samples: int      # frames × channels
    max_pending_uploads: int
    pause_threshold_dbfs: float
    pause_min_s: float
    chapter_min_s: float
    chapter_head_room_tone_s: float
    align_margin_s: float         # manuscript alignment: half width of the DTW band
    media_version_grace_s: float  # a replaced media version is removed this long after the switch

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> StudioSettings:
        """From loaded settings (web.config.load_settings, or an app's config): each field is the
        upper-case setting of its name, all present."""
        return cls(**{f.name: _TYPES[str(f.type)](settings[f.name.upper()]) for f in fields(cls)})


_TYPES: dict[str, Callable[[Any], Any]] = {"str": str, "int": int, "float": float}


@dataclass
class Context:
    sessions: sessionmaker[Session]
    store: MediaStore
    settings: StudioSettings


@dataclass(frozen=True)
class Decisions:
    """Human decisions passed into the pipeline (from the review pages, the CLI or a test)."""
    approve_marks: bool = False
    accept_qc_failures: bool = False
    publish: bool = False
