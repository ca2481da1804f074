// Narration QC on the studio pages: live alignment progress on the book page, decisions on the
// retake list without a reload (announced in a live region), and the print button. Every form
// still works without this script (plain POST and redirect).
(function () {
  "use strict";

  // -- the manuscript's alignment, polled while it runs --------------------------------------------
  var status = document.getElementById("manuscript-status");
  if (status && status.getAttribute("data-state") === "aligning") {
    var poll = function () {
      fetch(status.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var bar = document.getElementById("manuscript-progress");
          var percent = document.getElementById("manuscript-percent");
          if (data.state === "aligning") {
            if (bar) { bar.value = data.progress || 0; }
            if (percent) { percent.textContent = Math.round(data.progress || 0) + "%"; }
            window.setTimeout(poll, 3000);
            return;
          }
          var badge = document.getElementById("manuscript-state");
          if (badge) { badge.textContent = data.label; badge.className = "state state-" + data.state; }
          status.textContent = data.label + (data.message ? ": " + data.message : "");
          if (!document.querySelector("form:focus-within")) { window.location.reload(); }
        })
        .catch(function () { window.setTimeout(poll, 10000); });
    };
    window.setTimeout(poll, 3000);
  }

  // -- decisions on the retake list -------------------------------------------------------------
  var announce = document.getElementById("retake-status");
  document.querySelectorAll("form.retake-decide").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || !window.fetch) { return; }
      event.preventDefault();
      var body = new FormData(form);
      // a toggle: pressing the decision already taken takes it back
      var decision = button.getAttribute("aria-pressed") === "true" ? "" : button.value;
      body.set("decision", decision);
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (result) {
          if (!result.ok) { if (announce) { announce.textContent = result.data.message || ""; } return; }
          var id = form.getAttribute("data-sentence");
          var label = document.getElementById("decision-" + id);
          if (label) { label.textContent = result.data.label; label.className = "retake-decision state state-" + result.data.decision; }
          form.querySelectorAll("button[name=decision]").forEach(function (b) {
            b.setAttribute("aria-pressed", b.value === result.data.decision ? "true" : "false");
          });
          if (announce) { announce.textContent = result.data.message; }
        })
        .catch(function () {  // no answer: send the form the plain way, with the chosen decision
          var field = document.createElement("input");
          field.type = "hidden"; field.name = "decision"; field.value = decision;
          form.appendChild(field);
          form.submit();
        });
    });
  });

  var printButton = document.querySelector("button[data-print]");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
}());
