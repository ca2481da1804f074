// Live job progress on /jobs/: poll the JSON feed and update rows in place, without reloading.
// The summary line is aria-live="polite", so screen readers hear counts change, not every percent.
(function () {
  "use strict";
  var summary = document.getElementById("jobs-summary");
  if (!summary) { return; }
  var feed = summary.getAttribute("data-feed");
  var lastSummary = summary.textContent.trim();

  function label(state) { return summary.getAttribute("data-label-" + state) || state; }

  function setText(row, field, text) {
    var cell = row.querySelector('[data-field="' + field + '"]');
    if (cell && cell.textContent !== text) { cell.textContent = text; }
  }

  function update(data) {
    var known = {};
    data.jobs.forEach(function (job) {
      var row = document.querySelector('tr[data-job="' + job.id + '"]');
      if (!row) { known.missing = true; return; }
      if (row.getAttribute("data-state") !== job.state && job.state !== "queued" && job.state !== "running") {
        known.missing = true;  // finished, failed or waiting for review: the server draws its links and buttons
      }
      setText(row, "state", job.state_label);
      setText(row, "stage", job.stage_label);
      setText(row, "percent", Math.round(job.progress) + "%");
      setText(row, "attempts", job.attempts + "/" + job.max_attempts);
      if (!job.review.length) { setText(row, "error", job.error); }
      var bar = row.querySelector('[data-field="bar"]');
      if (bar) { bar.value = job.progress; bar.textContent = Math.round(job.progress) + "%"; }
    });
    var s = data.summary;
    var text = s.running + " " + label("running") + ", " + s.queued + " " + label("queued") + ", " +
               s.review + " " + label("review") + ", " + s.failed + " " + label("failed") + ", " +
               s.done + " " + label("done");
    if (text !== lastSummary) { summary.textContent = text; lastSummary = text; }
    if (known.missing && !document.querySelector("form:focus-within")) {
      // a new job appeared: reload the table once, unless staff are in the middle of using a form
      window.location.reload();
    }
  }

  function poll() {
    fetch(feed, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { update(data); } })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(function () { window.setTimeout(poll, document.hidden ? 10000 : 2000); });
  }
  window.setTimeout(poll, 2000);
}());
