"""Promotion clips: rendering (MP3 + MP4), publication, podcast feed (feedparser), embed, privacy."""
from __future__ import annotations

import datetime as dt
import io
import re

import feedparser
import soundfile as sf
from sqlalchemy import select

from catalog.models import Clip
from delivery.ffmpeg import probe
from web.runtime import wait_for_jobs


def make_clip(staff, book_id, start="2", end="6", wait=True, **extra):
    """POST a clip; with `wait`, return once its render job (run by the app's job thread) is over."""
    data = {"book_id": book_id, "start": start, "end": end, "title": "Nghe thử: Truyện Kiều",
            "transcript_vtt": "WEBVTT\n\n00:00.000 --> 00:02.000\nTrăm năm trong cõi người ta\n"}
    data.update(extra)
    response = staff.post("/clips/", data)
    if wait:
        assert wait_for_jobs(staff.client.application, 180.0), "the clip's render job did not finish"
    return response


def test_clip_rendered_published_and_in_feed(login, app, published_book):
    staff = login("lib1")
    response = make_clip(staff, published_book)
    assert response.status_code == 302, re.findall(r"flash-error\">([^<]*)", staff.get(response.headers["Location"]).get_data(as_text=True))
    services = app.extensions["sachnoi"]
    with services.sessions() as s:
        clip = s.scalars(select(Clip)).one()
        uuid, clip_id = clip.uuid, clip.id
        mp3, mp4 = services.store.path(clip.mp3_key), services.store.path(clip.mp4_key)
        assert mp3.stat().st_size == clip.mp3_bytes
        assert abs(clip.duration_s - 4.0) < 0.05
    video = probe(mp4)
    streams = {st["codec_type"]: st for st in video["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (1080, 1080)
    assert streams["audio"]["codec_name"] == "aac"
    audio, rate = sf.read(io.BytesIO(mp3.read_bytes()))
    from mastering.meter import measure
    m = measure(audio, rate)
    assert abs(m.integrated_lufs - (-16.0)) <= 1.0 and m.true_peak_dbtp <= -1.0 + 0.3

    anonymous = app.test_client()
    assert anonymous.get(f"/clips/{uuid}").status_code == 404  # not published yet
    assert "<item>" not in anonymous.get("/clips/feed.xml").get_data(as_text=True)
    assert staff.post(f"/clips/{clip_id}/publish", {"publish_at": ""}).status_code == 302
    page = anonymous.get(f"/clips/{uuid}").get_data(as_text=True)
    assert f"/clips/{uuid}/clip.mp3" in page
    assert "/hls/" not in page and "manifest.json" not in page and "book.m4b" not in page
    feed_bytes = anonymous.get("/clips/feed.xml").get_data()
    feed = feedparser.parse(feed_bytes)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title.startswith("Sách Nói") and feed.feed.image.href.endswith("/clips/artwork.jpg")
    assert not feed.feed.itunes_explicit and b"<itunes:explicit>false<" in feed_bytes
    assert {t.term for t in feed.feed.tags} >= {"Arts", "Books"} and feed.feed.language == "vi"
    (item,) = feed.entries
    enclosure = item.enclosures[0]
    assert int(enclosure.length) == mp3.stat().st_size and enclosure.type == "audio/mpeg"
    assert anonymous.get(enclosure.href.replace("http://localhost", "")).data == mp3.read_bytes()
    assert b"podcast:transcript" in feed_bytes
    vtt = anonymous.get(f"/clips/{uuid}/transcript.vtt")
    assert vtt.mimetype == "text/vtt" and "Trăm năm" in vtt.get_data(as_text=True)
    embed = anonymous.get(f"/embed/clips/{uuid}")
    assert embed.status_code == 200 and "X-Frame-Options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]


def test_scheduled_clip_appears_only_after_its_time(login, app, published_book):
    staff = login("lib1")
    make_clip(staff, published_book)
    with app.extensions["sachnoi"].sessions() as s:
        clip = s.scalars(select(Clip)).one()
        clip_id, uuid = clip.id, clip.uuid
    future = (dt.datetime.utcnow() + dt.timedelta(days=30) + dt.timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M")
    staff.post(f"/clips/{clip_id}/publish", {"publish_at": future})
    assert app.test_client().get(f"/clips/{uuid}").status_code == 404
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.get(Clip, clip_id).publish_at = dt.datetime.utcnow() - dt.timedelta(minutes=1)
    assert app.test_client().get(f"/clips/{uuid}").status_code == 200


def test_clip_range_rules(login, app, published_book):
    staff = login("lib1")
    assert make_clip(staff, published_book, start="0", end="12").status_code == 303  # > half the book
    assert make_clip(staff, published_book, start="5", end="3").status_code == 303
    assert make_clip(staff, published_book, transcript_vtt="not vtt").status_code == 303
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalars(select(Clip)).all() == []


def test_clip_renders_as_a_job_when_the_workers_run(login, app, published_book):
    """Issue 15.2 / 16.18: clip rendering (two H.264 encodes) ran inside the web request; with the
    server's job workers running the request only queues it, and a worker renders it."""
    from catalog.models import Job
    from studio.worker import Worker
    from web.runtime import app_context as studio_context
    app.config["JOB_WORKERS_RUNNING"] = True
    staff = login("lib1")
    response = make_clip(staff, published_book)
    assert response.status_code == 302
    sessions = app.extensions["sachnoi"].sessions
    with sessions() as s:
        clip = s.scalars(select(Clip)).one()
        job = s.scalars(select(Job)).one()
        assert (clip.mp3_key, clip.mp4_key, clip.state) == ("", "", "draft")
        assert (job.kind, job.state, job.payload, job.book_id) == ("clip", "queued", {"clip_id": clip.id},
                                                                   published_book)
    assert "Đang dựng" in staff.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert Worker(studio_context()).run_once()
    with sessions() as s:
        clip = s.get(Clip, clip.id)
        assert s.get(Job, job.id).state == "done" and clip.state == "ready"
        assert app.extensions["sachnoi"].store.path(clip.mp4_key).stat().st_size > 0
    rows = staff.get("/api/jobs").get_json()["jobs"]
    assert rows[0]["kind_label"] == "Đoạn giới thiệu" and rows[0]["book_id"] == published_book


def test_clip_post_returns_before_the_render_and_never_renders_in_the_request(login, app, published_book,
                                                                             monkeypatch):
    """Issue 15.2: without a worker pool (a bare create_app) the POST only queues the render; the
    app's job thread runs it. The renderer is held until the response is back, so the response
    cannot have waited for it, and it records the thread it ran in."""
    import threading

    import studio.clips
    from catalog.models import Job
    real, release, ran_in = studio.clips.render_clip, threading.Event(), []

    def held_render(ctx, clip_id):
        ran_in.append(threading.current_thread())
        assert release.wait(120), "the test never released the renderer"
        return real(ctx, clip_id)

    monkeypatch.setattr(studio.clips, "render_clip", held_render)   # the worker imports it per job
    assert not app.config.get("JOB_WORKERS_RUNNING")
    staff = login("lib1")
    response = make_clip(staff, published_book, wait=False)
    assert response.status_code == 302
    sessions = app.extensions["sachnoi"].sessions
    with sessions() as s:  # the response is here while the renderer is still held: nothing rendered yet
        clip = s.scalars(select(Clip)).one()
        assert (clip.mp3_key, clip.state) == ("", "draft")
        assert s.scalars(select(Job)).one().state in ("queued", "running")
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="job-progress"' in page and "job-progress.js" in page  # the page follows the job's progress
    release.set()
    assert wait_for_jobs(app, 180.0)
    assert ran_in and all(t is not threading.current_thread() for t in ran_in)  # the request ran here
    assert ran_in[0].name == "sachnoi-job-thread"
    with sessions() as s:
        clip = s.get(Clip, clip.id)
        assert s.scalars(select(Job)).one().state == "done" and clip.state == "ready" and clip.mp3_key
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="job-progress"' not in page and "Tải MP3" in page
