/* Sách Nói read-along (issue 20.4): the book's text beside the player, the sentence being read
   highlighted, click/Enter to hear a sentence, keyboard navigation, search inside the text.

   The text comes from /api/books/<id>/text (book-time start_s/end_s per sentence; sentences without
   a time are shown but cannot be played from). Every sentence is a <span> of real text in its <p>,
   so screen readers and braille displays read it as text; only one of them is in the Tab order
   (roving tabindex), and keys inside the text move between them:
     ArrowDown / ArrowUp    next / previous sentence
     PageDown / PageUp      first sentence of the next / previous paragraph (Ctrl+Arrow is left to
                            screen readers, which use it for paragraphs in browse mode)
     Home / End             first / last sentence of the book
     Enter / Space, click   play from this sentence
   The highlight (class ra-current, aria-current="true") follows playback silently: announcing every
   sentence would flood a screen reader; "Đang đọc câu nào?" says it on request. The panel scrolls
   itself (not the page) to keep the sentence in view unless "Tự cuộn theo giọng đọc" is off or the
   reader scrolled the text by hand in the last 5 s, and without smooth scrolling when the reader
   prefers reduced motion.
   Uses window.sachnoiPlayer.seekTo from player.js, which is loaded first. */
(function () {
  "use strict";
  var root = document.getElementById("readalong");
  var audio = document.getElementById("audio");
  if (!root || !audio || !window.fetch) return;
  var $ = function (id) { return document.getElementById(id); };
  var box = $("readalong-text"), follow = $("readalong-follow"), status = $("readalong-status");
  var results = $("readalong-results"), form = $("readalong-search"), input = $("readalong-q");
  var msg = function (name, values) {
    var text = root.getAttribute("data-msg-" + name) || "";
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  };
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function fmt(s) {  // 1:02:03 or 2:03, as the player shows times
    s = Math.max(0, Math.floor(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
  }
  function say(text) {  // the panel's own status line: cleared first so a repeat is read again
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }

  // -- the text -------------------------------------------------------------------------------------
  var spans = [];      // every sentence element, in reading order
  var timed = [];      // sentences with a time, by start
  var byId = {};       // sentence id -> element
  var chapterOf = [];  // index -> chapter title
  var rover = null;    // the sentence that is in the Tab order

  function render(data) {
    box.textContent = "";
    data.chapters.forEach(function (chapter) {
      var wrap = document.createElement("div");
      wrap.className = "ra-chapter";
      var heading = document.createElement("h3");
      heading.textContent = chapter.title;
      wrap.appendChild(heading);
      var para = null, paraNo = null;
      chapter.sentences.forEach(function (s) {
        if (para === null || s.paragraph !== paraNo) {
          para = document.createElement("p");
          paraNo = s.paragraph;
          wrap.appendChild(para);
        } else {
          para.appendChild(document.createTextNode(" "));
        }
        var span = document.createElement("span");
        span.className = "ra-s" + (s.start_s === null ? " ra-untimed" : "");
        span.id = "ra-s-" + s.id;
        span.tabIndex = -1;
        span.textContent = s.text;
        span.dataset.index = String(spans.length);
        span.dataset.paragraph = String(para.dataset.n || (para.dataset.n = String(spans.length)));
        if (s.start_s !== null) {
          span.dataset.start = String(s.start_s);
          span.dataset.end = String(s.end_s === null ? s.start_s : s.end_s);
          timed.push(span);
        }
        byId[s.id] = span;
        chapterOf.push(chapter.title);
        spans.push(span);
        para.appendChild(span);
      });
      box.appendChild(wrap);
    });
    timed.sort(function (a, b) { return parseFloat(a.dataset.start) - parseFloat(b.dataset.start); });
    box.removeAttribute("aria-busy");
    if (spans.length) setRover(spans[0]);
    highlight();
  }

  function setRover(span) {
    if (rover === span) return;
    if (rover) rover.tabIndex = -1;
    rover = span;
    rover.tabIndex = 0;
  }
  function focusSentence(span) {
    setRover(span);
    span.focus({ preventScroll: true });
    scrollToSentence(span, false);
  }

  // -- scrolling the panel (never the page) -----------------------------------------------------------
  function scrollToSentence(span, onlyIfHidden) {
    var top = span.offsetTop, bottom = top + span.offsetHeight;
    var view = box.scrollTop, height = box.clientHeight;
    if (onlyIfHidden && top >= view && bottom <= view + height) return;
    if (!onlyIfHidden && top >= view + 8 && bottom <= view + height - 8) return;
    var target = Math.max(0, top - height / 3);
    if (box.scrollTo) box.scrollTo({ top: target, behavior: reduceMotion ? "auto" : "smooth" });
    else box.scrollTop = target;
  }

  // -- the sentence being read --------------------------------------------------------------------------
  var current = null, lastManualScroll = 0;
  function sentenceAt(t) {  // the last sentence started by t, while it lasts (plus a pause after it)
    var lo = 0, hi = timed.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (parseFloat(timed[mid].dataset.start) <= t + 0.05) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    if (found < 0) return null;
    var span = timed[found];
    return t <= parseFloat(span.dataset.end) + 2 ? span : null;
  }
  function highlight() {
    var span = sentenceAt(audio.currentTime || 0);
    if (span === current) return;
    if (current) { current.classList.remove("ra-current"); current.removeAttribute("aria-current"); }
    current = span;
    if (!span) return;
    span.classList.add("ra-current");
    span.setAttribute("aria-current", "true");
    if (!box.contains(document.activeElement)) setRover(span);  // Tab into the text lands here
    if (follow.checked && Date.now() - lastManualScroll > 5000) scrollToSentence(span, true);
  }
  // a reader who scrolls the text by hand is reading elsewhere: following waits 5 s after that
  ["wheel", "touchmove"].forEach(function (type) {
    box.addEventListener(type, function () { lastManualScroll = Date.now(); }, { passive: true });
  });
  audio.addEventListener("timeupdate", highlight);
  audio.addEventListener("seeked", highlight);

  // -- playing from a sentence --------------------------------------------------------------------------
  function seekTo(t) {
    if (window.sachnoiPlayer && window.sachnoiPlayer.seekTo) window.sachnoiPlayer.seekTo(t);
    else audio.currentTime = t;
  }
  function playFrom(span, play) {
    if (!span.dataset.start) { say(msg("untimed")); return; }
    var t = parseFloat(span.dataset.start);
    var go = function () {
      seekTo(t);
      highlight();
      if (play && audio.paused) audio.play();
    };
    // before the stream's metadata the player still moves to the saved position: seek after it
    if (audio.readyState < 1) audio.addEventListener("loadedmetadata", go, { once: true });
    else go();
  }
  box.addEventListener("click", function (ev) {
    var span = ev.target.closest ? ev.target.closest(".ra-s") : null;
    if (!span || (window.getSelection && String(window.getSelection()).length)) return;  // selecting text
    setRover(span);
    playFrom(span, true);
  });
  box.addEventListener("focusin", function (ev) {
    if (ev.target.classList && ev.target.classList.contains("ra-s")) setRover(ev.target);
  });
  box.addEventListener("keydown", function (ev) {
    var span = ev.target.classList && ev.target.classList.contains("ra-s") ? ev.target : null;
    if (!span || ev.altKey || ev.metaKey || ev.ctrlKey) return;
    var i = parseInt(span.dataset.index, 10), next = null;
    switch (ev.key) {
      case "ArrowDown": next = spans[i + 1]; break;
      case "ArrowUp": next = spans[i - 1]; break;
      case "PageDown":
        for (var k = i + 1; k < spans.length; k++) {
          if (spans[k].dataset.paragraph !== span.dataset.paragraph) { next = spans[k]; break; }
        }
        break;
      case "PageUp":
        var start = spans[parseInt(span.dataset.paragraph, 10)];  // first sentence of this paragraph
        var j = parseInt(start.dataset.index, 10);
        next = (j < i) ? start : (j > 0 ? spans[parseInt(spans[j - 1].dataset.paragraph, 10)] : null);
        break;
      case "Home": next = spans[0]; break;
      case "End": next = spans[spans.length - 1]; break;
      case "Enter": case " ": case "Spacebar":
        ev.preventDefault();
        playFrom(span, true);
        return;
      default: return;
    }
    ev.preventDefault();
    if (next) focusSentence(next);
  });

  // -- follow toggle and "which sentence?" ---------------------------------------------------------------
  if (load("sachnoi:readalong-follow") === "off") follow.checked = false;
  follow.addEventListener("change", function () {
    store("sachnoi:readalong-follow", follow.checked ? "on" : "off");
    say(msg(follow.checked ? "follow-on" : "follow-off"));
    if (follow.checked && current) scrollToSentence(current, true);
  });
  $("readalong-where").addEventListener("click", function () {
    if (!current) { say(msg("idle")); return; }
    say(msg("reading", { chapter: chapterOf[parseInt(current.dataset.index, 10)], time: fmt(parseFloat(current.dataset.start)),
                         sentence: current.textContent }));
  });

  // -- search inside the text ----------------------------------------------------------------------------
  function resultButton(hit) {
    var li = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "ra-hit link-button";
    var where = document.createElement("span");
    where.className = "ra-hit-where";
    where.textContent = hit.chapter_title + " · " + (hit.start_s === null ? msg("no-time") : msg("at", { time: fmt(hit.start_s) }));
    var text = document.createElement("span");
    text.className = "ra-hit-text";
    var a = hit.mark[0], b = hit.mark[1];
    text.appendChild(document.createTextNode(hit.snippet.slice(0, a)));
    if (b > a) {
      var mark = document.createElement("mark");
      mark.textContent = hit.snippet.slice(a, b);
      text.appendChild(mark);
    }
    text.appendChild(document.createTextNode(hit.snippet.slice(b)));
    button.appendChild(where);
    button.appendChild(text);
    button.addEventListener("click", function () {
      var span = byId[hit.sentence_id];
      if (hit.start_s !== null) {
        seekTo(hit.start_s);
        highlight();
      }
      if (span) focusSentence(span);
    });
    li.appendChild(button);
    return li;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = input.value.trim();
    results.textContent = "";
    results.hidden = true;
    if (!q) { say(msg("empty")); input.focus(); return; }
    fetch(root.dataset.search + "?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) {
        data.hits.forEach(function (hit) { results.appendChild(resultButton(hit)); });
        results.hidden = !data.hits.length;
        say(!data.hits.length ? msg("none") : data.more ? msg("more", { n: data.hits.length }) : msg("found", { n: data.hits.length }));
      })
      .catch(function () { say(msg("failed")); });
  });

  // -- load ---------------------------------------------------------------------------------------------
  fetch(root.dataset.text, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
    .then(render)
    .catch(function () {
      box.removeAttribute("aria-busy");
      box.textContent = "";
      var p = document.createElement("p");
      p.className = "field-error";
      p.textContent = msg("failed");
      box.appendChild(p);
    });
  window.sachnoiReadAlong = { sentenceAt: sentenceAt };
})();
