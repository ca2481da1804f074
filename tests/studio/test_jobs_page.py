"""The staff jobs page and its JSON feed."""
from __future__ import annotations

from studio import jobs
from studio_helpers import login


def test_jobs_page_and_feed_show_stage_and_percent(app, client, ctx, staff):
    job_id = jobs.enqueue(ctx.sessions, "produce")
    jobs.claim(ctx.sessions, "w", lease_s=30)
    jobs.heartbeat(ctx.sessions, job_id, "w", progress=42.5, stage="master")
    assert client.get("/api/jobs").status_code == 401
    login(client, "phongthu")
    page = client.get("/jobs/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'aria-live="polite"' in html and "jobs.js" in html and "Xử lý âm thanh" in html
    assert 'value="42.5"' in html
    data = client.get("/api/jobs").get_json()
    (row,) = data["jobs"]
    assert (row["stage"], row["progress"], row["state"]) == ("master", 42.5, "running")
    assert data["summary"]["running"] == 1


def test_failed_job_can_be_retried_by_staff(app, client, ctx, staff):
    job_id = jobs.enqueue(ctx.sessions, "produce", max_attempts=1)
    jobs.claim(ctx.sessions, "w", lease_s=30)
    jobs.fail(ctx.sessions, job_id, "w", "hỏng")
    login(client, "phongthu")
    html = client.get("/jobs/").get_data(as_text=True)
    assert "hỏng" in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post(f"/jobs/{job_id}/retry", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/jobs").get_json()["jobs"][0]["state"] == "queued"
    reader = app.test_client()
    login(reader, "bandoc")
    assert reader.get("/jobs/").status_code == 403
