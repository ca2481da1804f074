"""Progress sync and bookmarks: late, duplicate and out-of-order writes never move a reader backwards."""
from __future__ import annotations

import random
import time

from reader_helpers import login

T0 = int(time.time() * 1000) - 60_000


def report(position, t, device="phone", seq=1, **extra):
    return {"position_s": position, "event_time_ms": t, "device_id": device, "seq": seq, **extra}


def put(client, csrf, book_id, body):
    return client.put(f"/api/books/{book_id}/progress", json=body, headers={"X-CSRFToken": csrf})


def test_progress_requires_login_and_csrf(client, make_book, people):
    book_id = make_book()
    assert client.get(f"/api/books/{book_id}/progress").status_code == 401
    assert client.put(f"/api/books/{book_id}/progress", json=report(5, T0)).status_code in (400, 401)
    csrf = login(client, "bandoc")
    assert client.put(f"/api/books/{book_id}/progress", json=report(5, T0)).status_code == 400  # no CSRF header
    assert put(client, csrf, book_id, report(5, T0)).status_code == 200
    assert client.get(f"/api/books/{book_id}/progress").get_json()["progress"]["position_s"] == 5


def test_out_of_order_and_duplicate_writes_never_move_backwards(client, make_book, people):
    book_id = make_book()
    csrf = login(client, "bandoc")
    writes = [report(2.0 * i, T0 + 1000 * i, seq=i) for i in range(1, 13)]
    shuffled = writes + writes[:6]  # every write once, then six retried
    random.Random(7).shuffle(shuffled)
    seen = []
    for body in shuffled:
        response = put(client, csrf, book_id, body)
        assert response.status_code == 200
        seen.append(response.get_json()["progress"]["position_s"])
    assert seen == sorted(seen), "the stored position went backwards"
    assert seen[-1] == 24.0
    # a late write from another device (older event time) changes nothing; a newer one wins
    assert put(client, csrf, book_id, report(1.0, T0 + 500, device="pc", seq=1)).get_json()["accepted"] is False
    body = put(client, csrf, book_id, report(3.0, T0 + 20_000, device="pc", seq=2)).get_json()
    assert body["accepted"] and body["progress"]["position_s"] == 3.0 and body["progress"]["device_id"] == "pc"
    listed = client.get(f"/api/books/{book_id}/progress").get_json()["devices"]
    devices = {d["device_id"]: d["position_s"] for d in listed}
    assert devices == {"phone": 24.0, "pc": 3.0}


def test_a_deliberate_seek_back_is_kept_and_a_retry_of_an_old_seq_is_not(client, make_book, people):
    book_id = make_book()
    csrf = login(client, "bandoc")
    put(client, csrf, book_id, report(20, T0 + 1000, seq=5))
    assert put(client, csrf, book_id, report(4, T0 + 2000, seq=6)).get_json()["progress"]["position_s"] == 4
    # seq 5 arrives again with a fresh-looking clock (a buggy retry): the device row refuses it
    assert put(client, csrf, book_id, report(20, T0 + 3000, seq=5)).get_json()["progress"]["position_s"] == 4


def test_finished_speed_and_clock_clamp(client, make_book, people):
    from streaming.progress import MAX_CLOCK_AHEAD_MS
    book_id = make_book()
    csrf = login(client, "bandoc")
    body = put(client, csrf, book_id, report(19, T0, speed=2.7)).get_json()["progress"]
    assert body["finished"] is False and body["speed"] == 2.7
    assert put(client, csrf, book_id, report(5, T0, seq=3, speed=9)).status_code == 400
    assert put(client, csrf, book_id, report(-1, T0, seq=3)).status_code == 400
    assert put(client, csrf, book_id, report(5, T0, device="bad id!", seq=3)).status_code == 400
    far = int(time.time() * 1000) + 10 * 24 * 3600 * 1000
    stored = put(client, csrf, book_id, report(6, far, device="wrongclock")).get_json()["progress"]
    assert stored["event_time_ms"] <= int(time.time() * 1000) + MAX_CLOCK_AHEAD_MS
    later = put(client, csrf, book_id, report(7, int(time.time() * 1000) + MAX_CLOCK_AHEAD_MS + 5000,
                                             seq=9)).get_json()
    assert later["progress"]["position_s"] == 7  # the wrong clock did not pin the position


def test_pressing_end_does_not_finish_but_listening_through_does(client, make_book, people):
    """Issue 16.9: End on the seek bar after 19 s recorded "finished"; finished needs ≥ 90 % of the book heard."""
    book_id = make_book()  # 30 s
    csrf = login(client, "bandoc")
    put(client, csrf, book_id, report(0, T0, seq=1))
    put(client, csrf, book_id, report(10, T0 + 10_000, seq=2))          # played 0-10 s
    body = put(client, csrf, book_id, report(30, T0 + 11_000, seq=3)).get_json()["progress"]  # End
    assert body["position_s"] == 30 and body["finished"] is False
    assert 0.3 <= body["heard_share"] < 0.4
    # seeking back and playing the rest at 2× (positions move twice as fast as the clock) finishes it
    put(client, csrf, book_id, report(10, T0 + 12_000, seq=4, speed=2.0))
    put(client, csrf, book_id, report(20, T0 + 17_000, seq=5, speed=2.0))
    body = put(client, csrf, book_id, report(30, T0 + 22_000, seq=6, speed=2.0)).get_json()["progress"]
    assert body["finished"] is True and body["heard_share"] == 1.0
    # and it stays finished when the reader goes back to the start
    assert put(client, csrf, book_id, report(0, T0 + 23_000, seq=7)).get_json()["progress"]["finished"] is True


def test_skipping_through_chapters_is_not_hearing_them(client, make_book, people):
    """Issue 16.9: jumping chapter to chapter (position moving faster than playback) hears nothing."""
    book_id = make_book()
    csrf = login(client, "bandoc")
    for i, position in enumerate((0, 10, 20, 30)):
        body = put(client, csrf, book_id, report(position, T0 + 1000 * i, seq=i + 1)).get_json()["progress"]
    assert body["finished"] is False and body["heard_share"] == 0.0


def test_sendbeacon_form_post_with_csrf_in_body(client, make_book, people):
    book_id = make_book()
    csrf = login(client, "bandoc")
    form = {k: str(v) for k, v in report(9.5, T0, seq=1).items()}
    assert client.post(f"/api/books/{book_id}/progress", data=form).status_code == 400
    assert client.post(f"/api/books/{book_id}/progress", data={**form, "csrf_token": csrf}).status_code == 200
    assert client.get(f"/api/books/{book_id}/progress").get_json()["progress"]["position_s"] == 9.5


def test_anonymous_progress_merges_at_login(client, make_book, people):
    a, b = make_book(), make_book(title="Sách hai")
    csrf = login(client, "bandoc")
    put(client, csrf, a, report(12, T0 + 10_000, device="pc"))
    entries = [dict(report(3, T0, device="anon1"), book_id=a),      # older than the account's: loses
               dict(report(8, T0 + 5, device="anon1"), book_id=b),  # new book: taken
               {"book_id": 99999, "position_s": 1}]                   # garbage: skipped
    body = client.post("/api/progress/merge", json={"entries": entries}, headers={"X-CSRFToken": csrf}).get_json()
    assert body == {"received": 3, "merged": 1}
    assert client.get(f"/api/books/{a}/progress").get_json()["progress"]["position_s"] == 12
    assert client.get(f"/api/books/{b}/progress").get_json()["progress"]["position_s"] == 8


def test_listening_events_are_counted_and_pseudonymous(app, client, make_book, people):
    from streaming import events
    book_id = make_book()
    csrf = login(client, "bandoc")
    put(client, csrf, book_id, report(1, T0, seq=1, listened_s=5))
    put(client, csrf, book_id, report(1, T0, seq=1, listened_s=5))  # duplicate: not counted twice
    put(client, csrf, book_id, report(15, T0 + 14_000, seq=2, listened_s=12))
    put(client, csrf, book_id, report(29, T0 + 28_000, seq=3, listened_s=12))  # 28 of 30 s heard: finished
    with app.extensions["sachnoi"].sessions() as s:
        (row,) = events.totals(s)
        listeners = {e.listener for e in s.query(events.ListeningEvent)}
    assert (row.plays, row.completions, row.listeners) == (1, 1, 1)
    assert abs(row.hours * 3600 - 7) < 1
    assert all(str(people["bandoc"]) != key and len(key) == 32 for key in listeners)
    with app.extensions["sachnoi"].sessions() as s:
        kinds = sorted(e.kind for e in s.query(events.ListeningEvent))
    assert kinds == ["complete", "listen", "play"]  # the day's listening is one growing row


def test_concurrent_writers_race_on_the_database(app, make_book, people):
    """Threads writing the same reader's progress through separate sessions: the newest write wins."""
    import threading
    from streaming import progress
    book_id = make_book()
    sessions = app.extensions["sachnoi"].sessions
    errors = []

    def writer(device, start):
        try:
            for i in range(start, 40, 4):
                with sessions.begin() as s:
                    progress.record(s, user_id=people["bandoc"], book_id=book_id, duration_s=30,
                                    report=progress.Report(i * 0.5, T0 + i, device, i))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"d{k}", k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sessions() as s:
        row = progress.get(s, user_id=people["bandoc"], book_id=book_id)
    assert row.event_time_ms == T0 + 39 and row.position_s == 19.5


def test_bookmarks_crud_export_and_isolation(app, client, make_book, people):
    book_id = make_book()
    csrf = login(client, "bandoc")
    h = {"X-CSRFToken": csrf}
    url = f"/api/books/{book_id}/bookmarks"
    created = client.post(url, json={"position_s": 12.5, "title": "Đoạn hay", "note": "Kiều gặp Kim Trọng"},
                          headers=h)
    assert created.status_code == 201
    mark = created.get_json()
    client.post(url, json={"position_s": 3, "title": "Mở đầu"}, headers=h)
    assert [b["title"] for b in client.get(url).get_json()["bookmarks"]] == ["Mở đầu", "Đoạn hay"]
    assert client.post(url, json={"position_s": "x"}, headers=h).status_code == 400
    assert client.post(url, json={"position_s": 1, "title": "x" * 300}, headers=h).status_code == 400
    assert client.post(url, json={"position_s": 1}).status_code == 400  # no CSRF
    edited = client.patch(f"{url}/{mark['id']}", json={"note": "Ghi chú mới", "position_s": 999}, headers=h)
    assert edited.get_json()["note"] == "Ghi chú mới" and edited.get_json()["position_s"] == 30
    csv_text = client.get(f"{url}/export?format=csv").get_data(as_text=True)
    assert "Đoạn hay" in csv_text and "0:00:30" in csv_text
    assert "Mở đầu" in client.get(f"{url}/export?format=txt").get_data(as_text=True)
    assert len(client.get(f"{url}/export").get_json()["bookmarks"]) == 2
    other = app.test_client()
    csrf2 = login(other, "khiemthi")
    assert other.get(url).get_json()["bookmarks"] == []
    assert other.delete(f"{url}/{mark['id']}", headers={"X-CSRFToken": csrf2}).status_code == 404
    assert client.delete(f"{url}/{mark['id']}", headers=h).status_code == 204
    assert len(client.get(url).get_json()["bookmarks"]) == 1


def _progress_world(url):
    """A migrated database at `url` with one library, reader and 60 s book: (sessionmaker, user id, book id)."""
    from catalog.accounts import get_or_create_library
    from catalog.books import create_book
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    from catalog.models import User
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện")
        book = create_book(s, library=lib, title="Sách", authors=["Tác giả"], duration_s=60.0)
        user = User(username="bandoc", password_hash="x", library_id=lib.id)
        s.add(user)
        s.flush()
        return sessions, user.id, book.id


def _shuffled_reports_on(url):
    """The upsert rules hold on this database: late, duplicate and out-of-order reports never win."""
    from streaming import progress
    sessions, user_id, book_id = _progress_world(url)
    reports = [progress.Report(position_s=4.0 * i, event_time_ms=T0 + 1000 * i, device_id=f"d{i % 3}", seq=i)
               for i in range(1, 16)]
    arrivals = reports + reports[::2]
    random.Random(3).shuffle(arrivals)
    newest, seen, finished, completions = 0, set(), False, 0
    for rep in arrivals:
        with sessions.begin() as s:
            outcome = progress.record(s, user_id=user_id, book_id=book_id, report=rep, duration_s=60.0)
        assert outcome.accepted == (rep.seq not in seen and rep.event_time_ms > newest)
        assert outcome.first_report == (newest == 0)              # what was stored before this write
        if outcome.before is not None:
            assert outcome.before.event_time_ms == newest
        seen.add(rep.seq)
        newest = max(newest, rep.event_time_ms)
        assert outcome.progress.event_time_ms == newest          # the answer is the stored newest
        assert outcome.just_finished == (outcome.accepted and bool(outcome.progress.finished) and not finished)
        finished = bool(outcome.progress.finished)
        completions += outcome.just_finished
    with sessions() as s:
        row = progress.get(s, user_id=user_id, book_id=book_id)
        per_device = {d.device_id: d.seq for d in progress.devices(s, user_id=user_id, book_id=book_id)}
    # the position jumps 4 s per 1 s of clock (and between devices): nothing was heard, nothing finished
    assert completions == 0
    assert (row.position_s, row.seq, row.finished) == (60.0, 15, False)
    assert per_device == {"d0": 15, "d1": 13, "d2": 14}
    sessions.kw["bind"].dispose()


def test_upsert_rules_on_sqlite(tmp_path):
    _shuffled_reports_on(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_upsert_rules_on_postgresql(pg_url):
    _shuffled_reports_on(pg_url)
