/* Sách Nói player (thin version): HLS through hls.js or native, a seek bar, chapter jumps,
   and the position kept in localStorage so a reload resumes where the reader left off. */
(function () {
  "use strict";
  var root = document.getElementById("player");
  if (!root) return;
  var audio = document.getElementById("audio");
  var playBtn = document.getElementById("play");
  var seek = document.getElementById("seek");
  var timeEl = document.getElementById("time");
  var statusEl = document.getElementById("status");
  var bookId = root.dataset.bookId;
  var total = parseFloat(root.dataset.duration) || 0;
  var storeKey = "sachnoi:pos:" + bookId;
  var lang = document.documentElement.lang || "vi";
  var T = lang === "en" ? { play: "Play", pause: "Pause", resumed: "Resumed at " }
                        : { play: "Phát", pause: "Tạm dừng", resumed: "Tiếp tục từ " };

  function fmt(s) {
    s = Math.max(0, Math.floor(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m));
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }

  var src = root.dataset.src;
  var ready = false;
  var pendingSeek = parseFloat(localStorage.getItem(storeKey) || "0") || 0;

  function onReady() {
    if (ready) return;
    ready = true;
    if (pendingSeek > 0) {
      audio.currentTime = pendingSeek;
      statusEl.textContent = T.resumed + fmt(pendingSeek);
    }
  }

  if (audio.canPlayType("application/vnd.apple.mpegurl")) {
    audio.src = src;
    audio.addEventListener("loadedmetadata", onReady);
  } else if (window.Hls && window.Hls.isSupported()) {
    var hls = new window.Hls({ startPosition: pendingSeek > 0 ? pendingSeek : -1 });
    hls.loadSource(src);
    hls.attachMedia(audio);
    hls.on(window.Hls.Events.MANIFEST_PARSED, onReady);
    window.sachnoiHls = hls;
  }

  playBtn.addEventListener("click", function () {
    if (audio.paused) { audio.play(); } else { audio.pause(); }
  });
  audio.addEventListener("play", function () { playBtn.textContent = T.pause; playBtn.setAttribute("aria-pressed", "true"); });
  audio.addEventListener("pause", function () {
    playBtn.textContent = T.play; playBtn.setAttribute("aria-pressed", "false");
    localStorage.setItem(storeKey, String(audio.currentTime));
  });
  var lastSave = 0;
  audio.addEventListener("timeupdate", function () {
    var t = audio.currentTime;
    seek.value = t;
    seek.setAttribute("aria-valuetext", fmt(t));
    timeEl.textContent = fmt(t) + " / " + fmt(total);
    if (Math.abs(t - lastSave) >= 2) { lastSave = t; localStorage.setItem(storeKey, String(t)); }
  });
  seek.addEventListener("change", function () { audio.currentTime = parseFloat(seek.value); });
  document.querySelectorAll(".chapter-link").forEach(function (btn) {
    btn.addEventListener("click", function () {
      audio.currentTime = parseFloat(btn.dataset.start) + 0.01;
      if (audio.paused) audio.play();
    });
  });
  window.addEventListener("pagehide", function () { localStorage.setItem(storeKey, String(audio.currentTime)); });
})();
