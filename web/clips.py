"""Promotion clips: the librarian's pages to cut and publish clips, and the public side — clip page,
embeddable player (`/embed/clips/<uuid>`, framable: see web.security), the clip's own media files,
WebVTT transcript, JSON chapters and the podcast feed at `/clips/feed.xml`.

A clip's public URLs serve only the clip's files (`derived/clips/<uuid>/…`), never the book's
stream, so sharing a clip never shares the book. A clip is public once it is published and its
scheduled time (`publish_at`, UTC) has come, and while its book is live.
"""
from __future__ import annotations

import hashlib
import io
import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import escape
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from catalog.access import is_visible, managed_by, may_manage
from catalog.ids import parse_id
from catalog.states import BookState, ClipState
from catalog.models import Book, Clip, Jingle, Library, utcnow
from catalog.errors import CatalogError
from catalog.podcast import Channel, Item, build_feed, chapters_json, square_artwork
from catalog.text import nfc
from studio.clip_edits import check_transcript, create_clip, is_public, publish_clip, render_job, unpublish_clip
from studio.clips import ClipError, video_key
from studio.waveform import envelope_points, master_envelope
from web.auth import own_book as _own_book, role_required
from web.extensions import db_session, media_store, public_base
from web.librarian import to_local, to_utc
from web.runtime import app_context, run_jobs_soon
from web.labels import JOB_STATES, error_text

bp = Blueprint("clips", __name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GAP_S = 0.3  # silence between a jingle and the excerpt (studio.clips.assemble)


def _own_clip(clip_id: int) -> Clip:
    clip = db_session().get(Clip, clip_id)
    if clip is None:
        abort(404)
    _own_book(clip.book_id)
    return clip


def _public_clip(uuid: str) -> Clip:
    if not _UUID.match(uuid):
        abort(404)
    clip = db_session().scalar(select(Clip).where(Clip.uuid == uuid))
    if clip is None:
        abort(404)
    if not is_public(clip) and not (current_user.is_authenticated
                                    and may_manage(current_user, clip.book.library_id)):
        abort(404)
    return clip


def _jingles():
    query = select(Jingle).where(managed_by(current_user, Jingle.library_id) | Jingle.library_id.is_(None))
    return db_session().scalars(query.order_by(Jingle.name)).all()


# -- librarian pages ---------------------------------------------------------------------------------
@bp.get("/clips/")
@role_required("librarian")
def index():
    query = select(Clip).join(Book).where(managed_by(current_user, Book.library_id))
    books = select(Book).where(Book.deleted_at.is_(None), Book.state == BookState.PUBLISHED,
                               managed_by(current_user, Book.library_id))
    clips = db_session().scalars(query.order_by(Clip.created_at.desc()).limit(500)).all()
    return render_template("staff/clips_index.html", clips=clips, books=db_session().scalars(books).all(),
                           now=utcnow(), is_public=is_public)


@bp.get("/clips/new")
@role_required("librarian")
def new():
    book_id = parse_id(request.args.get("book_id", ""))
    if book_id is None:
        return redirect(url_for(".index"))
    book = _own_book(book_id)
    chapters = [c for c in book.chapters if c.master_key]
    waves = []
    for c in chapters:
        env = master_envelope(media_store(), c.master_key, c.master_sha256 or str(c.id), 120)
        waves.append({"chapter": c, "points": envelope_points(env),
                      "x": 1000 * c.start_s / book.duration_s if book.duration_s else 0,
                      "w": 1000 * c.duration_s / book.duration_s if book.duration_s else 0})
    return render_template("staff/clips_new.html", book=book, waves=waves, jingles=_jingles())


def _seconds(raw: str | None) -> float:
    text = (raw or "").strip().replace(",", ".")
    try:
        value = 0.0
        for part in text.split(":"):
            value = value * 60 + float(part)
    except ValueError:
        raise ClipError(_("Thời điểm không hợp lệ: %(v)s", v=text)) from None
    return value


def _jingle_id(raw: str | None) -> int | None:
    if not raw:
        return None
    jingle_id = parse_id(raw)
    jingle = db_session().get(Jingle, jingle_id) if jingle_id is not None else None
    if jingle is None or (jingle.library_id is not None and not may_manage(current_user, jingle.library_id)):
        abort(400)
    return jingle.id


@bp.post("/clips/")
@role_required("librarian")
def create():
    form = request.form
    book_id = parse_id(form.get("book_id", ""))
    if book_id is None:
        abort(400)
    _own_book(book_id)
    try:
        start, end = _seconds(form.get("start")), _seconds(form.get("end"))
        intro, outro = _jingle_id(form.get("intro")), _jingle_id(form.get("outro"))
        db_session().close()  # the clip is written in a session of its own (SQLite: one writer)
        clip_id, job_id = create_clip(
            app_context(), book_id, start_s=start, end_s=end, title=form.get("title", ""),
            description=form.get("description", ""), intro_jingle_id=intro, outro_jingle_id=outro,
            transcript_vtt=form.get("transcript_vtt", ""), created_by=current_user.id)
    except ClipError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for(".new", book_id=book_id)), 303
    run_jobs_soon()  # the render (H.264 encodes) is a job, never run in this request
    flash(_("Đang dựng đoạn giới thiệu (việc #%(id)d); trang này cho biết khi xong.", id=job_id), "info")
    return redirect(url_for(".edit", clip_id=clip_id))


def embed_snippet(embed_url: str, title: str) -> str:
    """The iframe a librarian pastes into another site: every value escaped as an HTML attribute,
    since that site does not autoescape (a title `x" onload="…` would become script there)."""
    return (f'<iframe src="{escape(embed_url)}" title="{escape(title)}" width="480" height="200" '
            f'loading="lazy" allow="autoplay"></iframe>')


@bp.get("/clips/<int:clip_id>/edit")
@role_required("librarian")
def edit(clip_id: int):
    clip = _own_clip(clip_id)
    public_url = public_base() + url_for(".public", uuid=clip.uuid)
    embed_url = public_base() + url_for(".embed", uuid=clip.uuid)
    snippet = embed_snippet(embed_url, clip.title)
    job = None if clip.mp3_key else render_job(db_session(), clip)  # its live progress, while it renders
    return render_template("staff/clips_edit.html", clip=clip, public_url=public_url, snippet=snippet,
                           publish_local=to_local(clip.publish_at), public=is_public(clip), now=utcnow(),
                           job=job, job_states=JOB_STATES)


@bp.post("/clips/<int:clip_id>/edit")
@role_required("librarian")
def save(clip_id: int):
    clip = _own_clip(clip_id)
    form = request.form
    try:
        vtt = check_transcript(form.get("transcript_vtt", ""))
    except ClipError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for(".edit", clip_id=clip.id)), 303
    clip.title = (nfc(form.get("title", "")) or clip.title)[:500]
    clip.description = nfc(form.get("description", ""))[:4000]
    clip.transcript_vtt = vtt
    clip.trailer = form.get("trailer") == "on"
    db_session().commit()
    flash(_("Đã lưu."), "info")
    return redirect(url_for(".edit", clip_id=clip.id))


@bp.post("/clips/<int:clip_id>/publish")
@role_required("librarian")
def publish(clip_id: int):
    clip = _own_clip(clip_id)
    try:
        at = to_utc(request.form.get("publish_at", "")) if clip.mp3_key else None
        publish_clip(clip, at)
    except (CatalogError, ClipError) as exc:  # a date that cannot be read, a clip not rendered yet
        db_session().rollback()
        flash(error_text(exc), "error")
        return redirect(url_for(".edit", clip_id=clip.id)), 303
    db_session().commit()
    flash(_("Đã hẹn đăng đoạn giới thiệu.") if clip.publish_at else _("Đã đăng đoạn giới thiệu."), "info")
    return redirect(url_for(".edit", clip_id=clip.id))


@bp.post("/clips/<int:clip_id>/unpublish")
@role_required("librarian")
def unpublish(clip_id: int):
    clip = _own_clip(clip_id)
    unpublish_clip(clip)
    db_session().commit()
    flash(_("Đã gỡ đoạn giới thiệu."), "info")
    return redirect(url_for(".edit", clip_id=clip.id))


# -- public side -----------------------------------------------------------------------------------------
def _send_clip_file(clip: Clip, key: str, mimetype: str):
    if not key:
        abort(404)
    path = media_store().path(key)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mimetype, conditional=True, max_age=3600)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/clips/<uuid>")
def public(uuid: str):
    clip = _public_clip(uuid)
    return render_template("staff/clip_public.html", clip=clip, book_live=is_visible(clip.book),
                           embed_url=public_base() + url_for(".embed", uuid=clip.uuid))


@bp.get("/embed/clips/<uuid>")
def embed(uuid: str):
    clip = _public_clip(uuid)
    return render_template("staff/clip_embed.html", clip=clip,
                           page_url=public_base() + url_for(".public", uuid=clip.uuid))


@bp.get("/clips/<uuid>/clip.mp3")
def mp3(uuid: str):
    clip = _public_clip(uuid)
    return _send_clip_file(clip, clip.mp3_key, "audio/mpeg")


@bp.get("/clips/<uuid>/clip.mp4")
def mp4(uuid: str):
    clip = _public_clip(uuid)
    return _send_clip_file(clip, clip.mp4_key, "video/mp4")


@bp.get("/clips/<uuid>/clip-story.mp4")
def story_mp4(uuid: str):
    """The 1080×1920 version for stories (same audio, title and captions as the square MP4)."""
    clip = _public_clip(uuid)
    return _send_clip_file(clip, video_key(clip.uuid, "story") if clip.mp4_key else "", "video/mp4")


@bp.get("/clips/<uuid>/transcript.vtt")
def transcript(uuid: str):
    clip = _public_clip(uuid)
    if not clip.transcript_vtt:
        abort(404)
    # Flask adds "; charset=utf-8" to text/* itself: giving it here too repeated the parameter
    return Response(clip.transcript_vtt, mimetype="text/vtt", headers={"Access-Control-Allow-Origin": "*"})


def _chapter_parts(clip: Clip) -> list[tuple[float, str]]:
    session = db_session()
    intro = session.get(Jingle, clip.intro_jingle_id) if clip.intro_jingle_id else None
    outro = session.get(Jingle, clip.outro_jingle_id) if clip.outro_jingle_id else None
    parts, t = [], 0.0
    if intro:
        parts.append((0.0, intro.name))
        t = intro.duration_s + GAP_S
    parts.append((t, clip.title))
    if outro:
        parts.append((t + (clip.end_s - clip.start_s) + GAP_S, outro.name))
    return parts


@bp.get("/clips/<uuid>/chapters.json")
def chapters(uuid: str):
    clip = _public_clip(uuid)
    response = jsonify(chapters_json(_chapter_parts(clip)))
    response.mimetype = "application/json+chapters"
    return response


@bp.get("/clips/<uuid>/cover.jpg")
def cover(uuid: str):
    clip = _public_clip(uuid)
    store = media_store()
    if not clip.book.cover_path or not store.exists(clip.book.cover_path):
        return artwork()
    source = store.read_bytes(clip.book.cover_path)
    key = f"derived/clips/covers/{hashlib.sha256(source).hexdigest()[:24]}.jpg"  # Apple: square, 1400–3000 px
    if not store.exists(key):
        try:
            store.write_bytes(key, square_artwork(source))
        except CatalogError:
            return artwork()
    return _send_clip_file(clip, key, "image/jpeg")


@bp.get("/clips/artwork.jpg")
def artwork():
    """The feed's square artwork (Apple: 1400–3000 px), drawn once and kept in the media store."""
    key = "derived/clips/artwork.jpg"
    store = media_store()
    if not store.exists(key):
        image = Image.new("RGB", (1400, 1400), (11, 83, 148))
        draw = ImageDraw.Draw(image)
        try:
            font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 150)
        except OSError:
            font = ImageFont.load_default()
        draw.text((700, 700), "Sách Nói", fill=(255, 255, 255), font=font, anchor="mm")
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        store.write_bytes(key, out.getvalue())
    return send_file(store.path(key), mimetype="image/jpeg", max_age=86400)


@bp.get("/clips/feed.xml")
def feed():
    session = db_session()
    now = utcnow()
    rows = session.scalars(select(Clip).where(Clip.state == ClipState.PUBLISHED).order_by(Clip.created_at.desc())
                           .limit(300)).all()
    clips = [c for c in rows if is_public(c, now)]
    base = public_base()
    library = session.scalar(select(Library).where(Library.code == current_app.config["DEFAULT_LIBRARY"]))
    name = library.name if library else current_app.config["DEFAULT_LIBRARY_NAME"]
    channel = Channel(
        title=f"Sách Nói — {name}", link=base + url_for(".feed_page"), feed_url=base + url_for(".feed"),
        description=_("Đoạn giới thiệu sách nói của thư viện: nghe thử và tìm sách hay."),
        image_url=base + url_for(".artwork"), author=name, owner_name=name,
        owner_email=current_app.config["PODCAST_EMAIL"], language="vi",
        copyright=current_app.config["PODCAST_COPYRIGHT"] or f"© {now.year} {name}")
    items = []
    for clip in clips:
        u = clip.uuid
        items.append(Item(
            guid=f"urn:uuid:{u}", title=clip.title, description=clip.description or clip.book.title,
            link=base + url_for(".public", uuid=u), enclosure_url=base + url_for(".mp3", uuid=u),
            enclosure_length=clip.mp3_bytes, enclosure_type="audio/mpeg",
            published=clip.publish_at or clip.updated_at or clip.created_at, duration_s=clip.duration_s,
            image_url=base + url_for(".cover", uuid=u),
            transcript_url=base + url_for(".transcript", uuid=u) if clip.transcript_vtt else "",
            chapters_url=base + url_for(".chapters", uuid=u), episode_type="trailer" if clip.trailer else "full"))
    return Response(build_feed(channel, items), mimetype="application/rss+xml")


@bp.get("/clips/listen")
def feed_page():
    """A public list of the published clips (the feed's human page)."""
    now = utcnow()
    rows = db_session().scalars(select(Clip).where(Clip.state == ClipState.PUBLISHED)
                                .order_by(Clip.created_at.desc()).limit(100)).all()
    return render_template("staff/clips_public_list.html", clips=[c for c in rows if is_public(c, now)])
