// QC page: play a failing zone (one second either side) in the chapter before or after mastering.
// One player per version; a button seeks it to the zone, plays, and pauses at the zone's end.
(function () {
  "use strict";
  var MARGIN_S = 1.0;
  var status = document.getElementById("qc-listen-status");
  var stopAt = {};

  function play(audio, start, end) {
    ["qc-before", "qc-after"].forEach(function (id) {
      var other = document.getElementById(id);
      if (other && other !== audio) { other.pause(); }
    });
    stopAt[audio.id] = end + MARGIN_S;
    var seek = function () {
      audio.currentTime = Math.max(0, start - MARGIN_S);
      audio.play().catch(function () { /* the user can press play on the player itself */ });
    };
    if (audio.readyState >= 1) { seek(); } else {
      audio.preload = "auto";
      audio.addEventListener("loadedmetadata", seek, { once: true });
      audio.load();
    }
    if (status) { status.textContent = audio.getAttribute("aria-labelledby") === "label-before" ?
      document.getElementById("label-before").textContent : document.getElementById("label-after").textContent; }
  }

  ["qc-before", "qc-after"].forEach(function (id) {
    var audio = document.getElementById(id);
    if (!audio) { return; }
    audio.addEventListener("timeupdate", function () {
      if (stopAt[id] !== undefined && audio.currentTime >= stopAt[id]) { audio.pause(); delete stopAt[id]; }
    });
    audio.addEventListener("seeking", function () {
      // a seek by hand outside the zone ends the zone playback
      if (stopAt[id] !== undefined && audio.currentTime > stopAt[id]) { delete stopAt[id]; }
    });
  });

  document.querySelectorAll("button[data-play]").forEach(function (button) {
    button.addEventListener("click", function () {
      var item = button.closest("li");
      var audio = document.getElementById(button.getAttribute("data-play"));
      if (audio && item) { play(audio, parseFloat(item.getAttribute("data-start")), parseFloat(item.getAttribute("data-end"))); }
    });
  });
}());
