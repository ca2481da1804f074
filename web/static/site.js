/* Every page: fold progress kept while logged out ("sachnoi:anon:<book>") into the account after
   login, then forget it. The server keeps whichever position is newer, book by book. */
(function () {
  "use strict";
  if (document.body.dataset.loggedIn !== "1" || !window.fetch) return;
  var keys = [], entries = [];
  try {
    for (var i = 0; i < localStorage.length; i++) {
      var key = localStorage.key(i);
      if (key && key.indexOf("sachnoi:anon:") === 0) keys.push(key);
    }
  } catch (e) { return; }
  var device = localStorage.getItem("sachnoi:device");
  if (!keys.length || !device) return;
  keys.forEach(function (key) {
    try {
      var v = JSON.parse(localStorage.getItem(key));
      entries.push({ book_id: parseInt(key.slice(13), 10), position_s: v.p, event_time_ms: v.t, seq: v.seq || 1,
                     speed: v.speed || 1, device_id: device });
    } catch (e) { /* garbled entry: dropped below */ }
  });
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  fetch("/api/progress/merge", { method: "POST", credentials: "same-origin",
                                 headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
                                 body: JSON.stringify({ entries: entries }) })
    .then(function (r) { if (r.ok) keys.forEach(function (k) { localStorage.removeItem(k); }); })
    .catch(function () { /* try again on the next page */ });
})();

// "Print" buttons (the yearly report): no inline handlers under the CSP.
Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
  button.addEventListener("click", function () { window.print(); });
});
