/* A page waiting for a job (a clip's render, a book's production): poll the staff job feed (the one
   /jobs/ polls) and show the job's progress; once it is over, reload to show the result or the error. */
(function () {
  "use strict";
  var box = document.querySelector(".job-progress");
  if (!box || !box.getAttribute("data-feed")) { return; }
  var id = parseInt(box.getAttribute("data-job"), 10);
  var bar = box.querySelector("progress");
  var percent = box.querySelector('[data-field="percent"]');
  var state = box.querySelector('[data-field="state"]');
  function poll() {
    fetch(box.getAttribute("data-feed"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        var job = data && data.jobs.filter(function (j) { return j.id === id; })[0];
        if (!job) { window.setTimeout(poll, 5000); return; }
        if (bar) { bar.value = job.progress; bar.textContent = Math.round(job.progress); }
        if (percent) { percent.textContent = String(Math.round(job.progress)); }
        if (state && state.textContent !== job.state_label) { state.textContent = job.state_label; }
        if (job.state === "queued" || job.state === "running") {
          window.setTimeout(poll, document.hidden ? 10000 : 2000);
        } else if (!document.querySelector("form:focus-within")) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 5000);
        }
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 1500);
}());
