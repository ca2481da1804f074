"""SQLAlchemy models: every table of the platform.

The catalogue owns the database, so rows for studio sessions, jobs and listening live here too;
the behaviour around them lives in `studio/` and `streaming/`. Times are UTC; durations are
seconds (float); text is stored NFC (see `catalog.text`).
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from catalog.states import BookState, ClipState, JobState, ReviewState, Role


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


ROLES = tuple(Role)
ACCESS_POLICIES = ("public", "members", "print-disabled", "on-site")
BOOK_STATES = tuple(BookState)
CONTRIBUTOR_ROLES = ("aut", "nrt", "trl", "pro", "aue", "edt")  # MARC relator codes
JOB_STATES = tuple(JobState)


class Library(Base):
    """A provincial library or one of its district libraries."""
    __tablename__ = "libraries"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="province")  # province | district
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("libraries.id"))
    delivery_profile: Mapped[str] = mapped_column(String(32), default="library-streaming")
    onsite_networks: Mapped[str] = mapped_column(Text, default="")  # CIDRs, one per line
    # Reader self-registration: "closed" | "approval" (account waits for a librarian) | "open".
    self_registration: Mapped[str] = mapped_column(String(16), default="closed", server_default="closed")
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")  # IANA name, for display
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.READER)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout-everywhere, password change and disable: sessions carrying an older
    # version are refused (server-side invalidation of cookie sessions).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    print_disabled_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    print_disabled_verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    print_disabled_evidence: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set with a one-time password from staff: the user must choose a new one at next login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Self-registered and waiting for a librarian's approval (then is_active is False too).
    pending_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    card_number: Mapped[str | None] = mapped_column(String(64))  # the library card, for readers
    # fold() of user name, display name, e-mail and card: the user list's search, diacritics optional.
    search_folded: Mapped[str] = mapped_column(String(700), default="", server_default="")

    library: Mapped[Library] = relationship(foreign_keys=[library_id])

    @property
    def is_print_disabled(self) -> bool:
        return self.print_disabled_verified_at is not None


class Series(Base):
    """A series of books, or a periodical (e.g. a daily news digest) with ordered episodes."""
    __tablename__ = "series"
    id: Mapped[int] = mapped_column(primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"))
    title: Mapped[str] = mapped_column(String(500))
    title_folded: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(16), default="series")  # series | periodical
    issn: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Book(Base):
    """An audiobook title (or one episode of a periodical)."""
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"))
    title: Mapped[str] = mapped_column(String(500))
    subtitle: Mapped[str] = mapped_column(String(500), default="")
    title_folded: Mapped[str] = mapped_column(String(1000), default="")
    sort_key: Mapped[str] = mapped_column(String(1000), default="")
    isbn_print: Mapped[str] = mapped_column(String(20), default="")
    isbn_audio: Mapped[str] = mapped_column(String(20), default="")
    language: Mapped[str] = mapped_column(String(8), default="vie")  # ISO 639-2
    summary: Mapped[str] = mapped_column(Text, default="")
    ddc: Mapped[str] = mapped_column(String(32), default="")
    publisher: Mapped[str] = mapped_column(String(255), default="")
    year: Mapped[int | None] = mapped_column(Integer)
    abridged: Mapped[bool] = mapped_column(Boolean, default=False)
    cover_path: Mapped[str] = mapped_column(String(500), default="")
    access_policy: Mapped[str] = mapped_column(String(16), default="public")
    marrakesh: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default=BookState.DRAFT)
    publish_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # tombstone for harvesters
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    profile: Mapped[str] = mapped_column(String(32), default="library-streaming")
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"))
    series_position: Mapped[int | None] = mapped_column(Integer)
    print_record_marcxml: Mapped[str] = mapped_column(Text, default="")
    # the published media version: readers get derived/books/<uuid>/v/<media_version>/...; None =
    # the unversioned layout of books packaged before versions (studio.media_versions)
    media_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow, index=True)

    library: Mapped[Library] = relationship()
    series: Mapped[Series | None] = relationship()
    credits: Mapped[list["Credit"]] = relationship(
        back_populates="book", order_by="Credit.position", cascade="all, delete-orphan")
    chapters: Mapped[list["Chapter"]] = relationship(
        back_populates="book", order_by="Chapter.position", cascade="all, delete-orphan")
    subjects: Mapped[list["BookSubject"]] = relationship(cascade="all, delete-orphan")
    renditions: Mapped[list["Rendition"]] = relationship(cascade="all, delete-orphan")

    def contributors(self, role: str) -> list["Contributor"]:
        return [c.contributor for c in self.credits if c.role == role]


class Contributor(Base):
    __tablename__ = "contributors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    name_folded: Mapped[str] = mapped_column(String(255), default="")
    sort_key: Mapped[str] = mapped_column(String(500), default="")


class Credit(Base):
    """A contributor's role on a book (MARC relator code)."""
    __tablename__ = "credits"
    __table_args__ = (UniqueConstraint("book_id", "contributor_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    contributor_id: Mapped[int] = mapped_column(ForeignKey("contributors.id"))
    role: Mapped[str] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(Integer, default=0)

    book: Mapped[Book] = relationship(back_populates="credits")
    contributor: Mapped[Contributor] = relationship(lazy="joined")


class Subject(Base):
    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(255), unique=True)
    term_folded: Mapped[str] = mapped_column(String(255), default="")


class BookSubject(Base):
    __tablename__ = "book_subjects"
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    subject: Mapped[Subject] = relationship(lazy="joined")


class Chapter(Base):
    """One chapter of a book: its mastered audio and where it sits in the book (seconds)."""
    __tablename__ = "chapters"
    __table_args__ = (UniqueConstraint("book_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 1-based
    title: Mapped[str] = mapped_column(String(500))
    start_s: Mapped[float] = mapped_column(Float, default=0.0)  # offset within the book
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    master_key: Mapped[str] = mapped_column(String(500), default="")  # media-store key
    master_sha256: Mapped[str] = mapped_column(String(64), default="")
    sample_rate: Mapped[int | None] = mapped_column(Integer)  # the master's; None = not recorded
    channels: Mapped[int | None] = mapped_column(Integer)
    qc: Mapped[dict] = mapped_column(JSON, default=dict)
    qc_passed: Mapped[bool | None] = mapped_column(Boolean)
    review_state: Mapped[str] = mapped_column(String(16), default=ReviewState.PENDING)
    review_comment: Mapped[str] = mapped_column(Text, default="")

    book: Mapped[Book] = relationship(back_populates="chapters")


class Rendition(Base):
    """A derived file: an HLS rendition of the whole book, a chapter MP3, the M4B, ..."""
    __tablename__ = "renditions"
    # a book's newest rendition is part of its OAI-PMH datestamp (catalog.datestamps), read per record
    __table_args__ = (Index("ix_renditions_book_created", "book_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    chapter_id: Mapped[int | None] = mapped_column(ForeignKey("chapters.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # hls | mp3 | m4b | audiobook
    name: Mapped[str] = mapped_column(String(64), default="")  # e.g. "aac-64k-mono"
    key: Mapped[str] = mapped_column(String(500))  # media-store key (file or folder)
    codec: Mapped[str] = mapped_column(String(32), default="")
    bitrate: Mapped[int] = mapped_column(Integer, default=0)  # bits per second
    channels: Mapped[int] = mapped_column(Integer, default=1)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    source_sha256: Mapped[str] = mapped_column(String(64), default="")  # hash of what it was made from
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MediaVersion(Base):
    """One published set of a book's served media under derived/books/<uuid>/v/<version>/. The
    book's `media_version` names the current one; a replaced one gets `retired_at` and is removed
    after the grace period (studio.media_versions.collect), never while a player may hold it."""
    __tablename__ = "media_versions"
    __table_args__ = (UniqueConstraint("book_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)


class Original(Base):
    """An original recording in the content-addressed store. Never modified."""
    __tablename__ = "originals"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(500), default="")
    format: Mapped[str] = mapped_column(String(16), default="")
    sample_rate: Mapped[int] = mapped_column(Integer, default=0)
    channels: Mapped[int] = mapped_column(Integer, default=0)
    frames: Mapped[int] = mapped_column(BigInteger, default=0)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RecordingSession(Base):
    __tablename__ = "recording_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), default="")
    position: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(1000), default="")  # folder or "upload"
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # parsed session.toml
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    takes: Mapped[list["Take"]] = relationship(
        back_populates="session", order_by="Take.position", cascade="all, delete-orphan")


class Take(Base):
    """One recorded file in a session; a pickup replaces [replace_start_s, replace_end_s) of another take."""
    __tablename__ = "takes"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("recording_sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    original_sha256: Mapped[str] = mapped_column(ForeignKey("originals.sha256"))
    filename: Mapped[str] = mapped_column(String(500), default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    replaces_take_id: Mapped[int | None] = mapped_column(ForeignKey("takes.id"))
    replace_start_s: Mapped[float | None] = mapped_column(Float)
    replace_end_s: Mapped[float | None] = mapped_column(Float)

    session: Mapped[RecordingSession] = relationship(back_populates="takes", foreign_keys=[session_id])
    original: Mapped[Original] = relationship()


class Mark(Base):
    """A chapter boundary or a cut range on a take, with where it came from."""
    __tablename__ = "marks"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    take_id: Mapped[int] = mapped_column(ForeignKey("takes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="chapter")  # chapter | cut
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)  # cut ranges only
    title: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16))  # audacity | cue | session | pauses | manual
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. pause length and level
    approved: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    """A durable unit of work. The row is the truth: state, attempts, lease, progress, outcome."""
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_lease", "state", "lease_expires_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    book_id: Mapped[int | None] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    stage: Mapped[str] = mapped_column(String(32), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str] = mapped_column(String(64), default="")
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..100
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # last message sent for it (studio.broker)


class JobPart(Base):
    """One part of a job run as its own message (one chapter's master, one chapter × one output
    encode): claimed, leased, counted and finished like a job, so the book continues when the last
    part of a phase is done, whichever worker ran it (studio.jobs)."""
    __tablename__ = "job_parts"
    __table_args__ = (UniqueConstraint("job_id", "phase", "name"),
                      Index("ix_job_parts_state_lease", "state", "lease_expires_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(32))      # the pipeline stage it belongs to
    name: Mapped[str] = mapped_column(String(128))      # "ch03", "hls aac-64k-mono ch03", "m4b"
    queue: Mapped[str] = mapped_column(String(32))      # the broker queue its messages go to
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str] = mapped_column(String(64), default="")
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    runs: Mapped[int] = mapped_column(Integer, default=0)  # runs that finished (a duplicate run counts)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Progress(Base):
    """A reader's position in a book. Writes carry the client's event time and a per-device sequence."""
    __tablename__ = "progress"
    __table_args__ = (UniqueConstraint("user_id", "book_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    position_s: Mapped[float] = mapped_column(Float, default=0.0)
    chapter: Mapped[int] = mapped_column(Integer, default=1)
    event_time_ms: Mapped[int] = mapped_column(BigInteger, default=0)  # client clock, ms since epoch
    device_id: Mapped[str] = mapped_column(String(64), default="")
    device_name: Mapped[str] = mapped_column(String(255), default="")
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    # '0'/'1' per 1 % of the book: the stretches heard (streaming.progress.mark_heard)
    heard: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class DeviceProgress(Base):
    """The newest position reported by each device, for the 'continue from other device' offer."""
    __tablename__ = "device_progress"
    __table_args__ = (UniqueConstraint("user_id", "book_id", "device_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(64))
    device_name: Mapped[str] = mapped_column(String(255), default="")
    position_s: Mapped[float] = mapped_column(Float, default=0.0)
    event_time_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Bookmark(Base):
    __tablename__ = "bookmarks"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    position_s: Mapped[float] = mapped_column(Float)
    title: Mapped[str] = mapped_column(String(255), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ListeningEvent(Base):
    """Listening for statistics: only aggregates of these rows leave the database."""
    __tablename__ = "listening_events"
    __table_args__ = (Index("ix_listening_book_time", "book_id", "created_at"),
                      Index("ix_listening_listener_book", "listener", "book_id", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"))
    listener: Mapped[str] = mapped_column(String(64))  # keyed hash of user or anonymous device
    kind: Mapped[str] = mapped_column(String(16))  # play | listen | complete
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    channel: Mapped[str] = mapped_column(String(16), default="web")  # web | onsite | app | embed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # `listen` rows: the server time (Unix s) up to which listening has been credited (streaming.events)
    credited_until_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class Jingle(Base):
    __tablename__ = "jingles"
    id: Mapped[int] = mapped_column(primary_key=True)
    library_id: Mapped[int | None] = mapped_column(ForeignKey("libraries.id"))
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(500))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)


class Clip(Base):
    """A promotion clip cut from a published book."""
    __tablename__ = "clips"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    intro_jingle_id: Mapped[int | None] = mapped_column(ForeignKey("jingles.id"))
    outro_jingle_id: Mapped[int | None] = mapped_column(ForeignKey("jingles.id"))
    transcript_vtt: Mapped[str] = mapped_column(Text, default="")
    mp3_key: Mapped[str] = mapped_column(String(500), default="")
    mp3_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    mp4_key: Mapped[str] = mapped_column(String(500), default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    trailer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # podcast trailer
    state: Mapped[str] = mapped_column(String(16), default=ClipState.DRAFT)
    publish_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    book: Mapped[Book] = relationship()


class PasswordReset(Base):
    """A reset-by-email link: only the SHA-256 of its token is kept; single use, expiring."""
    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LoginAttempt(Base):
    """Failed logins, for back-off per account and per address."""
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_time", "key", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # "pair:<name>|<addr>" or "ip:<addr>"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AppCredential(Base):
    """A reader's app login (OPDS bearer flow): the secret is stored as its SHA-256 only.

    Valid while not revoked and while the account is active with the same `session_version` it
    had at issue (logout everywhere, password change, disable and role change end every app)."""
    __tablename__ = "app_credentials"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


MANUSCRIPT_ISSUES = ("", "skipped", "repeated", "low_confidence")  # narration QC (issue 20)
ISSUE_DECISIONS = ("", "accepted", "rerecord")


class Manuscript(Base):
    """The text a book is read from (EPUB, DOCX, Markdown or plain text), split into sentences.

    The uploaded file is kept as an original (`source_sha256`); `state` follows the alignment:
    parsed -> aligned (or failed, with `message`).
    """
    __tablename__ = "manuscripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("recording_sessions.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(500), default="")
    format: Mapped[str] = mapped_column(String(16), default="text")  # epub | docx | markdown | text
    source_sha256: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(8), default="vie")
    state: Mapped[str] = mapped_column(String(16), default="parsed")  # parsed | aligned | failed
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    aligned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    sections: Mapped[list["ManuscriptSection"]] = relationship(
        back_populates="manuscript", order_by="ManuscriptSection.position", cascade="all, delete-orphan")


class ManuscriptSection(Base):
    """One chapter of the manuscript as its author divided it (heading text, 1-based position)."""
    __tablename__ = "manuscript_sections"
    __table_args__ = (UniqueConstraint("manuscript_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    manuscript_id: Mapped[int] = mapped_column(ForeignKey("manuscripts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500), default="")
    chapter_id: Mapped[int | None] = mapped_column(ForeignKey("chapters.id", ondelete="SET NULL"))

    manuscript: Mapped[Manuscript] = relationship(back_populates="sections")
    sentences: Mapped[list["Sentence"]] = relationship(
        back_populates="section", order_by="Sentence.position", cascade="all, delete-orphan")


class Sentence(Base):
    """One sentence of a section and, once aligned, when it is read in its chapter's master.

    `start_s`/`end_s` are seconds from the start of the section's chapter master (None: not found);
    `confidence` is 0..1. `issue` is narration QC's finding and `decision` a person's answer to it.
    """
    __tablename__ = "sentences"
    __table_args__ = (UniqueConstraint("section_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("manuscript_sections.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 1-based within the section
    paragraph: Mapped[int] = mapped_column(Integer, default=1)  # 1-based within the section
    text: Mapped[str] = mapped_column(Text)
    text_folded: Mapped[str] = mapped_column(Text, default="")  # catalog.text folding, for search
    start_s: Mapped[float | None] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    issue: Mapped[str] = mapped_column(String(16), default="")
    issue_detail: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. {"repeat_at_s": 12.3}
    decision: Mapped[str] = mapped_column(String(16), default="")

    section: Mapped[ManuscriptSection] = relationship(back_populates="sentences")
