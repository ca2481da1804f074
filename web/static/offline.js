/* Sách Nói offline listening: registers the service worker (sw.js), downloads a title into Cache
   Storage ("sachnoi-book-<id>"), lists and deletes downloaded titles (page /offline), queues
   progress reports and bookmarks made offline, and on every reconnect asks the server whether
   each copy may still be kept.

   IndexedDB "sachnoi-offline" (version 1):
     titles   keyPath "bookId": {bookId, title, bytes, rendition, page, savedAt (ms)}; written only
              when a download has completed, so a cache without a row is a broken download
     queue    autoIncrement: {url, method, body, bookId, account, madeAt (ms)}: API calls made offline,
              sent in order when back online with a fresh CSRF token, only under the login they were
              made under (`account`: kept while logged out, dropped once another reader logs in here). Progress reports carry the device's
              event time and sequence number, so the server keeps a newer position that arrived first.
   The IndexedDB calls are wrapped by hand (a few lines): two stores and four operations do not
   justify a vendored library the page would have to load before anything else. */
(function () {
  "use strict";
  var en = (document.documentElement.lang || "vi").indexOf("en") === 0;
  var T = en ? {
    downloading: "Downloading: %s of %t (%p)", done: "Downloaded (%s). You can listen without a connection.",
    cancelled: "Download cancelled.", failed: "The download failed: %s. Nothing was kept.",
    deleted: "Deleted the downloaded copy of “%s”.", removed: "“%s” was removed from this device: %r",
    usage: "This site uses %u of the %q this browser allows.", none: "No downloaded titles yet.",
    del: "Delete", size: "Size", saved: "Downloaded", noStorage: "This browser cannot keep titles offline.",
    queued: "Saved on this device; it will be sent when you are back online.", listen: "Listen",
    reasons: { "login-required": "you are no longer logged in", "print-disabled-only": "the title is only for registered print-disabled readers",
               "on-site-only": "the title can only be heard in the library", "not-published": "the title has been withdrawn",
               "not-found": "the title is no longer available", "not-packaged": "the title has no audio yet" }
  } : {
    downloading: "Đang tải: %s trên %t (%p)", done: "Đã tải xong (%s). Có thể nghe khi không có mạng.",
    cancelled: "Đã huỷ tải.", failed: "Tải không thành công: %s. Không giữ lại phần đã tải.",
    deleted: "Đã xoá bản tải về của «%s».", removed: "«%s» đã bị xoá khỏi thiết bị này: %r",
    usage: "Trang này đang dùng %u trên %q trình duyệt cho phép.", none: "Chưa có sách nào được tải về.",
    del: "Xoá", size: "Dung lượng", saved: "Tải về lúc", noStorage: "Trình duyệt này không lưu được sách để nghe ngoại tuyến.",
    queued: "Đã lưu trên thiết bị; sẽ gửi lên khi có mạng trở lại.", listen: "Nghe",
    reasons: { "login-required": "bạn không còn đăng nhập", "print-disabled-only": "sách chỉ dành cho bạn đọc khuyết tật đọc chữ in đã đăng ký",
               "on-site-only": "sách chỉ nghe được tại thư viện", "not-published": "sách đã ngừng phát hành",
               "not-found": "sách không còn trên trang", "not-packaged": "sách chưa có âm thanh" }
  };
  var locale = en ? "en" : "vi";
  var PARALLEL = 4;

  function fill(text, values) {
    return Object.keys(values).reduce(function (s, k) { return s.replace("%" + k, values[k]); }, text);
  }
  function bytesText(n) {  // "12,3 MB" in Vietnamese, "12.3 MB" in English
    var units = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return new Intl.NumberFormat(locale, { maximumFractionDigits: i ? 1 : 0 }).format(n) + " " + units[i];
  }
  function percentText(fraction) {
    return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 }).format(fraction);
  }
  function reasonText(reason) { return T.reasons[reason] || reason; }
  function cacheName(bookId) { return "sachnoi-book-" + bookId; }
  function bare(url) { var u = new URL(url, location.href); return u.pathname; }  // cache key: no token

  // -- IndexedDB ------------------------------------------------------------------------------------
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open("sachnoi-offline", 1);
        open.onupgradeneeded = function () {
          open.result.createObjectStore("titles", { keyPath: "bookId" });
          open.result.createObjectStore("queue", { autoIncrement: true });
        };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { reject(open.error); };
      });
    }
    return dbPromise;
  }
  function tx(store, mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(store, mode), result;
        var request = fn(t.objectStore(store));
        if (request) request.onsuccess = function () { result = request.result; };
        t.oncomplete = function () { resolve(result); };
        t.onerror = t.onabort = function () { reject(t.error); };
      });
    });
  }
  function allEntries(store) {  // [[key, value], ...] in key order
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var out = [], cursor = d.transaction(store, "readonly").objectStore(store).openCursor();
        cursor.onsuccess = function () {
          var c = cursor.result;
          if (c) { out.push([c.key, c.value]); c.continue(); } else resolve(out);
        };
        cursor.onerror = function () { reject(cursor.error); };
      });
    });
  }
  function titles() { return allEntries("titles").then(function (e) { return e.map(function (kv) { return kv[1]; }); }); }

  // -- notices ------------------------------------------------------------------------------------------
  function notice(text) {
    var box = document.getElementById("offline-notices");
    if (!box) {
      box = document.createElement("div");
      box.id = "offline-notices";
      box.setAttribute("role", "status");
      var main = document.getElementById("main");
      if (!main) return;
      main.insertBefore(box, main.firstChild);
    }
    var p = document.createElement("p");
    p.className = "notice";
    p.textContent = text;
    box.appendChild(p);
  }

  // -- download -----------------------------------------------------------------------------------------
  function getOk(url, signal) {
    return fetch(url, { credentials: "same-origin", signal: signal, headers: { "X-Sachnoi-Download": "1" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r;
    });
  }
  function onlyRendition(master, rendition) {  // the master playlist naming just the downloaded rendition
    var lines = master.split(/\r?\n/), out = [];
    for (var i = 0; i < lines.length; i++) {
      if (lines[i].indexOf("#EXT-X-STREAM-INF") === 0) {
        var uri = (lines[i + 1] || "").trim();
        if (uri.indexOf(rendition + "/") === 0) { out.push(lines[i], uri); }
        i++;
      } else if (lines[i].indexOf("#EXT-X-I-FRAME-STREAM-INF") !== 0) {
        out.push(lines[i]);
      }
    }
    return out.join("\n");
  }
  function mediaUris(playlist) {  // every URI in a media playlist: EXT-X-MAP and segments
    var out = [];
    playlist.split(/\r?\n/).forEach(function (line) {
      line = line.trim();
      var m = /URI="([^"]+)"/.exec(line);
      if (line && line.charAt(0) !== "#") out.push(line);
      else if (m && line.indexOf("#EXT-X-MAP") === 0) out.push(m[1]);
    });
    return out;
  }

  /* Download book `bookId`; `progress(done, total)` is called as bytes arrive. Resolves with the
     titles row, rejects (and leaves no cache behind) on failure or when `signal` aborts. */
  function download(plan, signal, progress) {
    var bookId = plan.book_id, name = cacheName(bookId), total = plan.size_bytes || 0, done = 0, cache;
    function keep(url, response) { return cache.put(bare(url), response); }
    function fetchInto(url) {
      return getOk(url, signal).then(function (r) {
        var type = r.headers.get("Content-Type") || "application/octet-stream";
        return r.arrayBuffer().then(function (buffer) {
          done += buffer.byteLength;
          progress(done, Math.max(total, done));
          return keep(url, new Response(buffer, { headers: { "Content-Type": type } }));
        });
      });
    }
    function fetchAll(urls) {  // PARALLEL requests at a time
      var next = 0;
      function worker() {
        if (next >= urls.length) return Promise.resolve();
        var url = urls[next++];
        return fetchInto(url).then(worker);
      }
      var workers = [];
      for (var i = 0; i < PARALLEL; i++) workers.push(worker());
      return Promise.all(workers);
    }
    var pageBytes = 0;
    return caches.delete(name).then(function () { return caches.open(name); }).then(function (c) {
      cache = c;
      return getOk(plan.master, signal).then(function (r) { return r.text(); });
    }).then(function (master) {
      var masterUrl = new URL(plan.master, location.href);
      var listed = onlyRendition(master, plan.rendition);
      var mediaLine = listed.split("\n").filter(function (l) { return l && l.charAt(0) !== "#"; })[0];
      if (!mediaLine) throw new Error("no " + plan.rendition + " in the master playlist");
      var mediaUrl = new URL(mediaLine, masterUrl).href;
      return keep(plan.master, new Response(listed, { headers: { "Content-Type": "application/vnd.apple.mpegurl" } }))
        .then(function () { return getOk(mediaUrl, signal).then(function (r) { return r.text(); }); })
        .then(function (playlist) {
          done += playlist.length;
          var files = mediaUris(playlist).map(function (u) { return new URL(u, mediaUrl).href; });
          return keep(mediaUrl, new Response(playlist, { headers: { "Content-Type": "application/vnd.apple.mpegurl" } }))
            .then(function () { return fetchAll(files); });
        });
    }).then(function () {
      var extras = [plan.page, plan.cover, plan.manifest];
      if (plan.text) extras.push(plan.text);
      return Promise.all(extras.map(function (url) {
        return getOk(url, signal).then(function (r) {
          return r.clone().arrayBuffer().then(function (b) { pageBytes += b.byteLength; return keep(url, r); });
        }).catch(function (err) { if (url === plan.page) throw err; });  // a missing cover does not stop it
      }));
    }).then(function () {
      var row = { bookId: bookId, title: plan.title, bytes: done + pageBytes, rendition: plan.rendition,
                  page: bare(plan.page), savedAt: Date.now() };
      return tx("titles", "readwrite", function (s) { return s.put(row); }).then(function () { return row; });
    }).catch(function (err) {
      return caches.delete(name).then(function () { throw err; });
    });
  }

  function removeTitle(bookId) {
    return caches.delete(cacheName(bookId)).then(function () {
      return tx("titles", "readwrite", function (s) { return s.delete(bookId); });
    });
  }

  // -- the book page's box ------------------------------------------------------------------------------
  function bookBox(box) {
    var bookId = parseInt(box.dataset.bookId, 10);
    var get = box.querySelector("#offline-download"), cancel = box.querySelector("#offline-cancel"),
        del = box.querySelector("#offline-delete"), bar = box.querySelector("#offline-progress"),
        status = box.querySelector("#offline-status");
    var controller = null, lastSaid = -1;
    function show(saved) { get.hidden = !!saved; del.hidden = !saved; cancel.hidden = true; }
    function say(text) { status.textContent = text; }
    tx("titles", "readonly", function (s) { return s.get(bookId); }).then(function (row) {
      show(row);
      if (row) say(fill(T.done, { s: bytesText(row.bytes) }));
    });
    get.addEventListener("click", function () {
      if (!window.caches) { say(T.noStorage); return; }
      controller = new AbortController();
      downloading = true;
      get.hidden = true; cancel.hidden = false; bar.hidden = false; bar.value = 0; lastSaid = -1;
      cancel.focus();
      if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
      getOk(box.dataset.plan, controller.signal).then(function (r) { return r.json(); }).then(function (plan) {
        if (!plan.allowed) throw new Error(reasonText(plan.reason));
        return download(plan, controller.signal, function (doneBytes, totalBytes) {
          var fraction = totalBytes ? doneBytes / totalBytes : 0;
          bar.value = Math.round(fraction * 1000) / 10;
          bar.setAttribute("aria-valuetext", percentText(fraction));
          var tenth = Math.floor(fraction * 10);  // the live region speaks every 10 %, not on every segment
          if (tenth !== lastSaid) {
            lastSaid = tenth;
            say(fill(T.downloading, { s: bytesText(doneBytes), t: bytesText(totalBytes), p: percentText(fraction) }));
          }
        });
      }).then(function (row) {
        downloading = false;
        bar.hidden = true;
        show(true);
        say(fill(T.done, { s: bytesText(row.bytes) }));
        del.focus();
      }).catch(function (err) {
        downloading = false;
        bar.hidden = true;
        show(false);
        say(controller.signal.aborted ? T.cancelled : fill(T.failed, { s: err.message || String(err) }));
        get.focus();
      });
    });
    cancel.addEventListener("click", function () { if (controller) controller.abort(); });
    del.addEventListener("click", function () {
      removeTitle(bookId).then(function () {
        show(false);
        say(fill(T.deleted, { s: box.dataset.title }));
        get.focus();
      });
    });
  }

  // -- the "Sách đã tải" page ---------------------------------------------------------------------------
  function libraryPage(list) {
    var empty = document.getElementById("offline-empty"), usage = document.getElementById("offline-usage"),
        status = document.getElementById("offline-status");
    function render() {
      return titles().then(function (rows) {
        list.textContent = "";
        empty.hidden = rows.length > 0;
        rows.sort(function (a, b) { return b.savedAt - a.savedAt; }).forEach(function (row) {
          var li = document.createElement("li"), link = document.createElement("a");
          li.className = "offline-title";
          link.href = row.page;
          link.textContent = row.title;
          var facts = document.createElement("p");
          facts.className = "book-meta";
          var when = new Intl.DateTimeFormat(locale, { dateStyle: "short", timeStyle: "short" }).format(new Date(row.savedAt));
          facts.textContent = T.size + ": " + bytesText(row.bytes) + " · " + T.saved + ": " + when;
          var del = document.createElement("button");
          del.type = "button";
          del.textContent = T.del;
          del.setAttribute("aria-label", T.del + ": " + row.title);
          del.addEventListener("click", function () {
            removeTitle(row.bookId).then(function () {
              status.textContent = fill(T.deleted, { s: row.title });
              return render();
            }).then(function () { (list.querySelector("button") || document.getElementById("offline-heading")).focus(); });
          });
          var heading = document.createElement("h2");
          heading.appendChild(link);
          li.appendChild(heading); li.appendChild(facts); li.appendChild(del);
          list.appendChild(li);
        });
        if (navigator.storage && navigator.storage.estimate) {
          return navigator.storage.estimate().then(function (e) {
            usage.textContent = fill(T.usage, { u: bytesText(e.usage || 0), q: bytesText(e.quota || 0) });
          });
        }
      });
    }
    if (!window.caches || !window.indexedDB) { empty.textContent = T.noStorage; return; }
    render();
    window.addEventListener("sachnoi:offline-changed", render);
  }

  // -- the queue of calls made offline ------------------------------------------------------------------
  function queue(url, method, body) {
    var bookId = (/\/api\/books\/(\d+)\//.exec(url) || [])[1];
    return tx("queue", "readwrite", function (s) {
      return s.add({ url: url, method: method, body: body, bookId: bookId ? parseInt(bookId, 10) : null,
                     account: document.body.dataset.account || null, madeAt: Date.now() });
    });
  }
  function flush(csrf, account) {
    return allEntries("queue").then(function (entries) {
      var chain = Promise.resolve();
      entries.forEach(function (kv) {
        chain = chain.then(function () {
          var mine = String(kv[1].account) === String(account);
          if (!mine && account !== null) return tx("queue", "readwrite", function (s) { return s.delete(kv[0]); });
          if (!mine) return;  // logged out now: kept until that reader logs in here again
          return fetch(kv[1].url, { method: kv[1].method, credentials: "same-origin",
                                    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
                                    body: JSON.stringify(kv[1].body) })
            .then(function (r) {
              // sent, or refused for good (a bad or stale report): drop it; 401/403/5xx: try again later
              if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 401 && r.status !== 403)) {
                return tx("queue", "readwrite", function (s) { return s.delete(kv[0]); });
              }
              throw new Error("HTTP " + r.status);
            });
        });
      });
      return chain;
    });
  }

  // -- on every page load while online, and on every reconnect ----------------------------------------
  var checking = null, downloading = false;
  function dropBroken() {  // caches of downloads that never finished (page closed, crash): no titles row
    if (downloading || !window.caches) return Promise.resolve();
    return Promise.all([caches.keys(), titles()]).then(function (found) {
      var kept = found[1].map(function (r) { return cacheName(r.bookId); });
      return Promise.all(found[0].filter(function (n) { return n.indexOf("sachnoi-book-") === 0 && kept.indexOf(n) < 0; })
        .map(function (n) { return caches.delete(n); }));
    });
  }
  function reconnect() {
    if (!navigator.onLine || !window.indexedDB || checking) return checking;
    checking = Promise.all([titles(), allEntries("queue")]).then(function (found) {
      var rows = found[0], queued = found[1], csrf = null, account = null;
      var ids = rows.map(function (r) { return r.bookId; });
      queued.forEach(function (kv) { if (kv[1].bookId && ids.indexOf(kv[1].bookId) < 0) ids.push(kv[1].bookId); });
      var changed = false;
      return Promise.all(ids.map(function (bookId) {
        return fetch("/api/books/" + bookId + "/offline", { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) {
            return r.json().catch(function () { return {}; }).then(function (answer) {
              if (answer.csrf_token) { csrf = answer.csrf_token; account = answer.account; }
              var row = rows.filter(function (x) { return x.bookId === bookId; })[0];
              if (!row || (r.ok && answer.allowed) || (!r.ok && r.status !== 404)) return;  // 5xx: ask again later
              changed = true;
              stopIfPlaying(bookId);
              return removeTitle(bookId).then(function () {
                notice(fill(T.removed, { s: row.title, r: reasonText(answer.reason || "not-found") }));
              });
            });
          }).catch(function () { /* still offline for this request */ });
      })).then(function () {
        if (changed) window.dispatchEvent(new Event("sachnoi:offline-changed"));
        if (queued.length && csrf) return flush(csrf, account === undefined ? null : account);
      });
    }).catch(function () {}).then(function () { checking = null; });
    return checking;
  }
  function stopIfPlaying(bookId) {
    var player = document.getElementById("player"), audio = document.getElementById("audio");
    if (player && audio && String(player.dataset.bookId) === String(bookId)) {
      audio.pause();
      audio.removeAttribute("src");
      if (window.sachnoiHls) window.sachnoiHls.destroy();
      audio.load();
    }
  }

  // -- start ----------------------------------------------------------------------------------------------
  window.sachnoiOffline = { queue: queue, reconnect: reconnect, download: download, remove: removeTitle, titles: titles,
                            queuedText: T.queued };
  var ready = Promise.resolve();
  if ("serviceWorker" in navigator) {
    ready = navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }
  var box = document.getElementById("offline");
  if (box && window.indexedDB) bookBox(box);
  var list = document.getElementById("offline-list");
  if (list) libraryPage(list);
  window.addEventListener("online", reconnect);
  if (window.indexedDB) ready.then(dropBroken).then(reconnect);
})();
