/* Sách Nói player: HLS (hls.js, or native where the browser has it), skips, chapters, speed,
   sleep timer, data-saving rendition, Media Session, bookmarks, and progress synced with the server.

   Progress: kept in localStorage on every device (so a reload resumes at once) and, for logged-in
   readers, sent to /api/books/<id>/progress every 10 s while playing and on pause, seek, chapter
   change and page hide (sendBeacon, CSRF token in the body). Each report carries this device's id,
   a growing sequence number and the event time, so the server can ignore late or repeated ones.
   Anonymous listeners' positions are also listed under "sachnoi:anon:" and merged into the account
   at the next login (site.js). */
(function () {
  "use strict";
  var root = document.getElementById("player");
  if (!root) return;
  var $ = function (id) { return document.getElementById(id); };
  var audio = $("audio"), playBtn = $("play"), seek = $("seek"), live = $("live");
  var bookId = root.dataset.bookId;
  var total = parseFloat(root.dataset.duration) || 0;
  var api = root.dataset.api;
  var loggedIn = document.body.dataset.loggedIn === "1" && !!api;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var en = (document.documentElement.lang || "vi").indexOf("en") === 0;
  var T = en ? {
    play: "Play", pause: "Pause", chapter: "Now playing: ", resumed: "Resumed at ", other: "Continue from %s (other device)",
    otherSay: "Another device is further along, at %s.", chLeft: "%s left in chapter", bookLeft: "· %s left in book",
    speed: "Speed %s×", sleepOff: "Sleep timer off", sleepMin: "Playback will stop in %s minutes",
    sleepCh: "Playback will stop at the end of this chapter", slept: "Sleep timer: playback stopped",
    badTime: "Type a time like 1:23:45 or 12:30", saved: "Bookmark added at %s", deleted: "Bookmark deleted",
    jump: "Play from here", edit: "Edit", del: "Delete", save: "Save", cancel: "Cancel", bm: "Bookmark",
    title: "Title", note: "Note", quality: "Quality: ", saveData: "data saver", auto: "automatic", best: "best",
    shortcutsOn: "Single-key shortcuts on", shortcutsOff: "Single-key shortcuts off", ended: "End of book"
  } : {
    play: "Phát", pause: "Tạm dừng", chapter: "Đang nghe: ", resumed: "Tiếp tục từ ", other: "Tiếp tục từ %s (thiết bị khác)",
    otherSay: "Một thiết bị khác đã nghe đến %s.", chLeft: "Còn %s trong chương", bookLeft: "· còn %s cả sách",
    speed: "Tốc độ %s lần", sleepOff: "Đã tắt hẹn giờ", sleepMin: "Sẽ dừng phát sau %s phút",
    sleepCh: "Sẽ dừng phát khi hết chương này", slept: "Hẹn giờ: đã dừng phát",
    badTime: "Hãy gõ thời điểm dạng 1:23:45 hoặc 12:30", saved: "Đã thêm dấu trang tại %s", deleted: "Đã xoá dấu trang",
    jump: "Nghe từ đây", edit: "Sửa", del: "Xoá", save: "Lưu", cancel: "Huỷ", bm: "Dấu trang",
    title: "Tiêu đề", note: "Ghi chú", quality: "Chất lượng: ", saveData: "tiết kiệm dữ liệu", auto: "tự động", best: "tốt nhất",
    shortcutsOn: "Đã bật phím tắt một phím", shortcutsOff: "Đã tắt phím tắt một phím", ended: "Đã hết sách"
  };
  function fill(s, v) { return s.replace("%s", v); }
  function say(text) {  // polite live region: clear first so a repeated message is read again
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }
  function fmt(s) {
    s = Math.max(0, Math.floor(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
  }
  function parseTime(text) {  // "1:23:45", "83:45", "12", "1h2m3s" -> seconds, or NaN
    text = (text || "").trim().replace(/[hg]/gi, ":").replace(/[mp']/gi, ":").replace(/[s"]/gi, "").replace(/:$/, "");
    if (!/^\d+(?::\d{1,2}){0,2}(?:[.,]\d+)?$/.test(text)) return NaN;
    return text.replace(",", ".").split(":").reduce(function (acc, part) { return acc * 60 + parseFloat(part); }, 0);
  }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }

  // -- chapters -----------------------------------------------------------------------------------
  var chapterButtons = Array.prototype.slice.call(document.querySelectorAll(".chapter-link"));
  var chapters = chapterButtons.map(function (b) {
    return { start: parseFloat(b.dataset.start) || 0, duration: parseFloat(b.dataset.duration) || 0, title: b.textContent.trim(), button: b };
  });
  function chapterAt(t) {
    var index = 0;
    for (var i = 0; i < chapters.length; i++) { if (t + 0.05 >= chapters[i].start) index = i; }
    return index;
  }

  // -- device identity, sequence numbers and local position -----------------------------------------
  var deviceId = load("sachnoi:device");
  if (!deviceId || !/^[A-Za-z0-9_-]{1,64}$/.test(deviceId)) {
    deviceId = "w" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    store("sachnoi:device", deviceId);
  }
  function nextSeq() {
    var seq = (parseInt(load("sachnoi:seq") || "0", 10) || 0) + 1;
    store("sachnoi:seq", String(seq));
    return seq;
  }
  var posKey = "sachnoi:pos:" + bookId;
  var local = null;
  try { local = JSON.parse(load(posKey) || "null"); } catch (e) { local = null; }
  if (local && typeof local.p !== "number") local = null;
  function saveLocal() {
    var entry = { p: audio.currentTime, t: Date.now(), speed: audio.playbackRate };
    store(posKey, JSON.stringify(entry));
    if (!loggedIn) store("sachnoi:anon:" + bookId, JSON.stringify({ p: entry.p, t: entry.t, seq: nextSeq(), speed: entry.speed }));
  }

  // -- source ----------------------------------------------------------------------------------------
  var hls = null, ready = false;
  var startAt = local ? Math.min(local.p, Math.max(0, total - 1)) : 0;
  var speed = local && local.speed ? local.speed : 1.0;
  function onReady() {
    if (ready) return;
    ready = true;
    applySpeed(speed, false);
    if (startAt > 1) say(T.resumed + fmt(startAt));
  }
  audio.addEventListener("loadedmetadata", function () {  // native HLS, or a start found after loading began
    if (startAt > 0 && Math.abs(audio.currentTime - startAt) > 1) audio.currentTime = startAt;
    applySpeed(audio.defaultPlaybackRate, false);
  });
  if (window.Hls && window.Hls.isSupported()) {
    hls = new window.Hls({ startPosition: startAt > 0 ? startAt : -1, capLevelToPlayerSize: false });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () { applyQuality(qualitySelect.value, false); onReady(); });
    hls.on(window.Hls.Events.ERROR, function (_e, data) {
      if (data && data.fatal && data.type === window.Hls.ErrorTypes.NETWORK_ERROR) refreshToken();
    });
    hls.loadSource(root.dataset.src);
    hls.attachMedia(audio);
    window.sachnoiHls = hls;
  } else if (audio.canPlayType("application/vnd.apple.mpegurl")) {
    audio.src = root.dataset.src;
    audio.addEventListener("loadedmetadata", onReady);
  }
  function refreshToken() {  // a long session outlived its media token: ask for a fresh one
    fetch("/api/books/" + bookId + "/token", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || !hls) return;
        var at = audio.currentTime, wasPlaying = !audio.paused;
        hls.loadSource(body.stream_url || root.dataset.src.replace(/([?&]t=)[^&]*/, "$1" + body.token));
        hls.startLoad(at);
        if (wasPlaying) audio.play();
      });
  }

  // -- transport -------------------------------------------------------------------------------------
  function seekTo(t, why) {
    t = Math.max(0, Math.min(t, Math.max(0, total - 0.25)));
    audio.currentTime = t;
    updateTime();
    schedule(why || "seek");
  }
  function toggle() { if (audio.paused) { audio.play(); } else { audio.pause(); } }
  playBtn.addEventListener("click", toggle);
  $("back15").addEventListener("click", function () { seekTo(audio.currentTime - 15); });
  $("back30").addEventListener("click", function () { seekTo(audio.currentTime - 30); });
  $("fwd15").addEventListener("click", function () { seekTo(audio.currentTime + 15); });
  $("fwd30").addEventListener("click", function () { seekTo(audio.currentTime + 30); });
  function goChapter(index) {
    if (!chapters.length) return;
    index = Math.max(0, Math.min(chapters.length - 1, index));
    seekTo(chapters[index].start + 0.01, "chapter");
    announceChapter(index);
  }
  $("prev-chapter").addEventListener("click", function () {
    var i = chapterAt(audio.currentTime);
    // like a CD player: back to the start of this chapter first, unless we are at its start
    goChapter(audio.currentTime - chapters[i].start > 3 ? i : i - 1);
  });
  $("next-chapter").addEventListener("click", function () { goChapter(chapterAt(audio.currentTime) + 1); });
  chapterButtons.forEach(function (b, i) {
    b.addEventListener("click", function () { goChapter(i); if (audio.paused) audio.play(); });
  });
  seek.addEventListener("input", function () { $("time").textContent = fmt(seek.value) + " / " + fmt(total); });
  seek.addEventListener("change", function () { seekTo(parseFloat(seek.value)); });
  $("goto").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("goto-time"), t = parseTime(input.value);
    if (isNaN(t) || t > total) {
      input.setAttribute("aria-invalid", "true");
      $("goto-error").textContent = T.badTime;
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    $("goto-error").textContent = "";
    seekTo(t);
    say(T.resumed + fmt(t));
  });

  // -- speed -------------------------------------------------------------------------------------------
  var speedInput = $("speed"), speedError = $("speed-error");
  var decimalMark = en ? "." : ",";
  function showDecimal(value) { return value.toFixed(1).replace(".", decimalMark); }  // 1.5 -> "1,5" in Vietnamese
  function parseSpeed(text) {  // "1,5", "1.5", "1,5 lần", "2x" -> number; anything else -> NaN
    var m = /^\s*(\d{1,2})(?:[.,](\d{1,3}))?\s*(?:×|x|lần)?\s*$/i.exec(text || "");
    if (!m) return NaN;
    var value = parseFloat(m[1] + "." + (m[2] || "0"));
    return value >= 0.5 && value <= 4 ? value : NaN;
  }
  function applySpeed(value, announce) {
    value = Math.round(Math.max(0.5, Math.min(4, value || 1)) * 10) / 10;
    audio.defaultPlaybackRate = value;
    audio.playbackRate = value;
    speedInput.value = showDecimal(value);
    speedInput.removeAttribute("aria-invalid");
    speedError.textContent = "";
    if (announce) { say(fill(T.speed, showDecimal(value))); saveLocal(); schedule("speed"); }
  }
  speedInput.addEventListener("change", function () {
    var value = parseSpeed(speedInput.value);
    if (isNaN(value)) {  // say why and keep the speed that is playing
      speedInput.setAttribute("aria-invalid", "true");
      speedError.textContent = speedError.dataset.message;
      say(speedError.dataset.message);
      return;
    }
    applySpeed(value, true);
  });
  $("speed-down").addEventListener("click", function () { applySpeed(audio.playbackRate - 0.1, true); });
  $("speed-up").addEventListener("click", function () { applySpeed(audio.playbackRate + 0.1, true); });
  applySpeed(speed, false);

  // -- sleep timer --------------------------------------------------------------------------------------
  var sleepTimer = null, sleepAtChapterEnd = null;
  $("sleep").addEventListener("change", function () {
    window.clearTimeout(sleepTimer);
    sleepTimer = null;
    sleepAtChapterEnd = null;
    var v = this.value;
    if (!v) { say(T.sleepOff); return; }
    if (v === "chapter") {
      var c = chapters[chapterAt(audio.currentTime)];
      sleepAtChapterEnd = c ? c.start + c.duration : total;
      say(T.sleepCh);
      return;
    }
    sleepTimer = window.setTimeout(sleepNow, parseFloat(v) * 60000);
    say(fill(T.sleepMin, v));
  });
  function sleepNow() {
    audio.pause();
    sleepTimer = null;
    sleepAtChapterEnd = null;
    $("sleep").value = "";
    say(T.slept);
  }

  // -- rendition ("save data") --------------------------------------------------------------------------
  var qualitySelect = $("quality");
  var savedQuality = load("sachnoi:quality") ||
    (navigator.connection && navigator.connection.saveData ? "save" : "auto");
  qualitySelect.value = savedQuality;
  function applyQuality(value, announce) {
    if (hls && hls.levels && hls.levels.length) {
      var lowest = 0, highest = hls.levels.length - 1;
      hls.levels.forEach(function (l, i) {  // hls.js sorts by bitrate, but do not rely on it
        if (l.bitrate < hls.levels[lowest].bitrate) lowest = i;
        if (l.bitrate > hls.levels[highest].bitrate) highest = i;
      });
      if (value === "save") { hls.autoLevelCapping = lowest; hls.nextLevel = lowest; }
      else if (value === "best") { hls.autoLevelCapping = -1; hls.nextLevel = highest; }
      else { hls.autoLevelCapping = -1; hls.nextLevel = -1; }
    }
    if (announce) {
      store("sachnoi:quality", value);
      say(T.quality + (value === "save" ? T.saveData : value === "best" ? T.best : T.auto));
    }
  }
  qualitySelect.addEventListener("change", function () { applyQuality(qualitySelect.value, true); });

  // -- display: time, chapter, remaining --------------------------------------------------------------
  var currentChapter = -1;
  function announceChapter(index) {
    if (chapters[index]) say(T.chapter + chapters[index].title);
  }
  function updateTime() {
    var t = audio.currentTime || 0;
    seek.value = t;
    seek.setAttribute("aria-valuetext", fmt(t) + " / " + fmt(total));
    $("time").textContent = fmt(t) + " / " + fmt(total);
    var i = chapterAt(t), c = chapters[i];
    if (c) {
      $("chapter-remaining").textContent = fill(T.chLeft, fmt(c.start + c.duration - t));
      if (i !== currentChapter) {
        if (currentChapter >= 0 && !audio.paused) { announceChapter(i); schedule("chapter"); }
        currentChapter = i;
        $("now-chapter").textContent = c.title;
        chapterButtons.forEach(function (b, k) {
          if (k === i) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
        });
        if (navigator.mediaSession && window.MediaMetadata) setMetadata();
      }
    }
    $("book-remaining").textContent = fill(T.bookLeft, fmt(total - t));
    if (sleepAtChapterEnd !== null && t >= sleepAtChapterEnd - 0.3) sleepNow();
  }
  var lastLocalSave = 0, lastTick = null, listened = 0;
  audio.addEventListener("timeupdate", function () {
    updateTime();
    var now = Date.now();
    if (!audio.paused && lastTick !== null) {
      var delta = (now - lastTick) / 1000;
      if (delta > 0 && delta < 3) listened += delta;
    }
    lastTick = audio.paused ? null : now;
    if (now - lastLocalSave > 1000) { lastLocalSave = now; saveLocal(); }
  });
  audio.addEventListener("play", function () {
    playBtn.textContent = T.pause;
    lastTick = Date.now();
    if (navigator.mediaSession) navigator.mediaSession.playbackState = "playing";
    startTicker();
  });
  audio.addEventListener("pause", function () {
    playBtn.textContent = T.play;
    lastTick = null;
    saveLocal();
    if (navigator.mediaSession) navigator.mediaSession.playbackState = "paused";
    stopTicker();
    report(false);
  });
  audio.addEventListener("ended", function () { say(T.ended); saveLocal(); report(false); });
  audio.addEventListener("seeked", function () { saveLocal(); if (navigator.mediaSession && navigator.mediaSession.setPositionState) setPosition(); });

  // -- Media Session (lock screen, headset buttons) -----------------------------------------------------
  function setMetadata() {
    var c = chapters[chapterAt(audio.currentTime)];
    navigator.mediaSession.metadata = new window.MediaMetadata({
      title: (c ? c.title + " — " : "") + root.dataset.title, artist: root.dataset.artist || "", album: root.dataset.title
    });
  }
  function setPosition() {
    try { navigator.mediaSession.setPositionState({ duration: total, playbackRate: audio.playbackRate, position: Math.min(audio.currentTime, total) }); }
    catch (e) { /* some browsers reject while loading */ }
  }
  if (navigator.mediaSession) {
    if (window.MediaMetadata) setMetadata();
    var handlers = {
      play: function () { audio.play(); }, pause: function () { audio.pause(); },
      seekbackward: function (d) { seekTo(audio.currentTime - ((d && d.seekOffset) || 15)); },
      seekforward: function (d) { seekTo(audio.currentTime + ((d && d.seekOffset) || 15)); },
      previoustrack: function () { $("prev-chapter").click(); }, nexttrack: function () { $("next-chapter").click(); },
      seekto: function (d) { if (d && typeof d.seekTime === "number") seekTo(d.seekTime); }
    };
    Object.keys(handlers).forEach(function (k) {
      try { navigator.mediaSession.setActionHandler(k, handlers[k]); } catch (e) { /* action not supported */ }
    });
  }

  // -- progress sync ---------------------------------------------------------------------------------------
  var ticker = null, pending = null;
  function startTicker() { if (!ticker) ticker = window.setInterval(function () { report(false); }, 10000); }
  function stopTicker() { window.clearInterval(ticker); ticker = null; }
  function schedule() {  // coalesce a burst of seeks into one report
    window.clearTimeout(pending);
    pending = window.setTimeout(function () { saveLocal(); report(false); }, 400);
  }
  function body() {
    var spent = Math.round(listened * 10) / 10;
    listened = 0;
    return {
      position_s: Math.round(audio.currentTime * 1000) / 1000, event_time_ms: Date.now(), device_id: deviceId,
      seq: nextSeq(), speed: audio.playbackRate, chapter: chapterAt(audio.currentTime) + 1,
      device_name: navigator.platform || "", listened_s: spent
    };
  }
  function report(beacon) {
    if (!loggedIn || !ready) return;
    var data = body();
    var offline = window.sachnoiOffline;  // offline.js: kept and sent when back online (never lost)
    if (offline && !navigator.onLine) { offline.queue(api, "PUT", data); return; }
    if (beacon && navigator.sendBeacon) {
      var form = new URLSearchParams();
      Object.keys(data).forEach(function (k) { form.append(k, data[k]); });
      form.append("csrf_token", csrf);
      navigator.sendBeacon(api, form);
      return;
    }
    fetch(api, { method: "PUT", credentials: "same-origin", keepalive: true,
                 headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(data) })
      .catch(function () { if (offline) offline.queue(api, "PUT", data); });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { saveLocal(); report(true); }
  });
  window.addEventListener("pagehide", function () { saveLocal(); report(true); });

  // "Continue from 1:23:45 (other device)"
  var offer = $("sync-offer"), offerBtn = $("sync-accept"), offerAt = null;
  offerBtn.addEventListener("click", function () {
    if (offerAt !== null) { seekTo(offerAt); say(T.resumed + fmt(offerAt)); }
    offer.hidden = true;
    playBtn.focus();
  });
  $("sync-dismiss").addEventListener("click", function () { offer.hidden = true; playBtn.focus(); });
  function checkServer() {
    fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) return;
        var p = state.progress;
        var mine = (state.devices || []).filter(function (d) { return d.device_id === deviceId; })[0];
        if (!local && mine && mine.position_s > 1) {  // storage was cleared: this device's own place
          startAt = mine.position_s;
          if (audio.readyState > 0) seekTo(startAt, "resume");
          say(T.resumed + fmt(startAt));
        }
        // `speed` too: onReady applies it when the playlist is parsed, which may come after this answer
        if (p.speed && (!local || p.event_time_ms > local.t)) { speed = p.speed; applySpeed(p.speed, false); }
        var here = Math.max(audio.currentTime || 0, startAt || 0);
        if (p.device_id && p.device_id !== deviceId && p.position_s > here + 5 && (!local || p.event_time_ms > local.t)) {
          offerAt = p.position_s;
          offerBtn.textContent = fill(T.other, fmt(p.position_s));
          offer.hidden = false;
          say(fill(T.otherSay, fmt(p.position_s)));
        }
      }).catch(function () { /* offline: local position only */ });
  }
  if (loggedIn) checkServer();

  // -- bookmarks ---------------------------------------------------------------------------------------
  var bmUrl = root.dataset.bookmarks, bmList = $("bookmark-list"), bmForm = $("bookmark-form");
  function jsonFetch(url, method, payload) {
    return fetch(url, { method: method, credentials: "same-origin",
                        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
                        body: payload ? JSON.stringify(payload) : undefined })
      .then(function (r) { if (!r.ok && r.status !== 204) throw new Error(String(r.status)); return r.status === 204 ? null : r.json(); });
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function renderBookmarks(items) {
    bmList.textContent = "";
    items.forEach(function (bm) {
      var li = el("li", { "class": "bookmark" });
      var label = (bm.title || T.bm) + " — " + fmt(bm.position_s);
      li.appendChild(el("p", { "class": "bookmark-title" }, label));
      if (bm.note) li.appendChild(el("p", { "class": "bookmark-note" }, bm.note));
      var actions = el("p", { "class": "bookmark-actions" });
      var jump = el("button", { type: "button" }, T.jump);
      jump.setAttribute("aria-label", T.jump + ": " + label);
      jump.addEventListener("click", function () { seekTo(bm.position_s); if (audio.paused) audio.play(); });
      var edit = el("button", { type: "button" }, T.edit);
      edit.setAttribute("aria-label", T.edit + ": " + label);
      edit.addEventListener("click", function () { editBookmark(li, bm); });
      var del = el("button", { type: "button" }, T.del);
      del.setAttribute("aria-label", T.del + ": " + label);
      del.addEventListener("click", function () {
        jsonFetch(bmUrl + "/" + bm.id, "DELETE").then(function () { say(T.deleted); loadBookmarks(); $("bookmark-add").focus(); });
      });
      actions.appendChild(jump); actions.appendChild(edit); actions.appendChild(del);
      li.appendChild(actions);
      bmList.appendChild(li);
    });
  }
  function editBookmark(li, bm) {
    li.textContent = "";
    var form = el("form", { "class": "form" });
    var idT = "bm-title-" + bm.id, idN = "bm-note-" + bm.id;
    var pT = el("p"); pT.appendChild(el("label", { "for": idT }, T.title));
    var inT = el("input", { type: "text", id: idT, maxlength: "255" }); inT.value = bm.title; pT.appendChild(inT);
    var pN = el("p"); pN.appendChild(el("label", { "for": idN }, T.note));
    var inN = el("textarea", { id: idN, rows: "3", maxlength: "10000" }); inN.value = bm.note; pN.appendChild(inN);
    var pB = el("p");
    var save = el("button", { type: "submit" }, T.save), cancel = el("button", { type: "button" }, T.cancel);
    cancel.addEventListener("click", loadBookmarks);
    pB.appendChild(save); pB.appendChild(cancel);
    form.appendChild(pT); form.appendChild(pN); form.appendChild(pB);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      jsonFetch(bmUrl + "/" + bm.id, "PATCH", { title: inT.value, note: inN.value }).then(loadBookmarks);
    });
    li.appendChild(form);
    inT.focus();
  }
  function loadBookmarks() {
    if (!bmUrl || !bmList) return;
    jsonFetch(bmUrl, "GET").then(function (data) { renderBookmarks(data.bookmarks); }).catch(function () {});
  }
  function addBookmark() {
    var at = audio.currentTime;
    var title = bmForm ? $("bookmark-title").value : "", note = bmForm ? $("bookmark-note").value : "";
    var payload = { position_s: at, title: title, note: note }, offline = window.sachnoiOffline;
    function added(queued) {
      if (bmForm) { $("bookmark-title").value = ""; $("bookmark-note").value = ""; }
      say(fill(T.saved, fmt(at)) + (queued ? ". " + offline.queuedText : ""));
      if (!queued) loadBookmarks();
    }
    if (offline && !navigator.onLine) return offline.queue(bmUrl, "POST", payload).then(function () { added(true); });
    return jsonFetch(bmUrl, "POST", payload).then(function () { added(false); });
  }
  if (bmForm) {
    bmForm.addEventListener("submit", function (ev) { ev.preventDefault(); addBookmark(); });
    loadBookmarks();
  }

  // -- single-key shortcuts (WCAG 2.1.4: can be turned off) ------------------------------------------
  var shortcuts = $("shortcuts");
  if (load("sachnoi:shortcuts") === "off" || document.documentElement.classList.contains("no-shortcuts")) shortcuts.checked = false;
  shortcuts.addEventListener("change", function () {
    store("sachnoi:shortcuts", shortcuts.checked ? "on" : "off");
    say(shortcuts.checked ? T.shortcutsOn : T.shortcutsOff);
  });
  document.addEventListener("keydown", function (ev) {
    if (!shortcuts.checked || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || ev.target.isContentEditable) return;
    var actions = {
      k: toggle, j: function () { seekTo(audio.currentTime - 15); }, l: function () { seekTo(audio.currentTime + 15); },
      p: function () { $("prev-chapter").click(); }, n: function () { $("next-chapter").click(); },
      "[": function () { applySpeed(audio.playbackRate - 0.1, true); }, "]": function () { applySpeed(audio.playbackRate + 0.1, true); },
      b: function () { if (bmUrl && bmForm) addBookmark(); }
    };
    var action = actions[ev.key.toLowerCase()];
    if (action) { ev.preventDefault(); action(); }
  });

  updateTime();
  window.sachnoiPlayer = { seekTo: seekTo, report: report, deviceId: deviceId };
})();
