/* New clip: first click on the book's waveform sets the start, the second the end. */
(function () {
  "use strict";
  var svg = document.getElementById("book-wave");
  if (!svg) { return; }
  var start = document.getElementById("start");
  var end = document.getElementById("end");
  var selection = document.getElementById("selection");
  var duration = parseFloat(svg.getAttribute("data-duration"));
  var next = "start";
  function draw() {
    var a = parseFloat(start.value), b = parseFloat(end.value);
    if (isFinite(a) && isFinite(b) && b > a) {
      selection.setAttribute("x", String(1000 * a / duration));
      selection.setAttribute("width", String(1000 * (b - a) / duration));
    }
  }
  svg.addEventListener("click", function (event) {
    var box = svg.getBoundingClientRect();
    var t = Math.max(0, Math.min(duration, (event.clientX - box.left) / box.width * duration)).toFixed(2);
    if (next === "start") { start.value = t; end.value = ""; next = "end"; } else { end.value = t; next = "start"; }
    draw();
  });
  start.addEventListener("input", draw);
  end.addEventListener("input", draw);
}());

/* A clip's page while its render job runs: poll the staff job feed (the one /jobs/ polls) and show
   the job's progress; once the job is done or failed, reload to show the clip or the error. */
(function () {
  "use strict";
  var box = document.getElementById("clip-job");
  if (!box || !box.getAttribute("data-feed")) { return; }
  var id = parseInt(box.getAttribute("data-job"), 10);
  var bar = document.getElementById("clip-job-bar");
  var percent = document.getElementById("clip-job-percent");
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
