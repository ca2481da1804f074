/* Sách Nói service worker (served at /sw.js, scope "/").

   Caches:
     sachnoi-shell-v1      the app shell: /offline, site CSS and scripts, icons, the web app manifest.
                           Static files are fetched from the network first and kept here on the way,
                           so the shell is fresh online and present offline.
     sachnoi-book-<id>     one per downloaded title (written by offline.js): the book page, its
                           64 kbps HLS rendition (a master playlist naming only that rendition, the
                           media playlist, init segment and segments), the cover, the Readium
                           manifest and the read-along text (/api/books/<id>/text, network first).
                           Keys carry no media token (`?t=`).

   A title's media are answered from its cache first, whatever token the URL carries: the copy was
   checked when it was downloaded and is checked again on every reconnect (offline.js asks
   /api/books/<id>/offline and deletes what may no longer be kept). Pages go to the network first
   and fall back to the title's cached page, then to /offline. */
"use strict";

var SHELL = "sachnoi-shell-v1";
var SHELL_FILES = ["/offline", "/manifest.webmanifest", "/static/site.css", "/static/site.js",
                   "/static/offline.js", "/static/player.js", "/static/readalong.js", "/static/vendor/hls.min.js",
                   "/static/favicon.svg", "/static/icons/icon-192.png", "/static/icons/icon-512.png"];
var BOOK_MEDIA = /^\/books\/(\d+)\/(?:hls\/|manifest\.json$|cover\.jpg$)/;
var COVER = /^\/covers\/(\d+)\.(?:png|jpg)$/;
var BOOK_TEXT = /^\/api\/books\/(\d+)\/text$/;
var BOOK_PAGE = /^\/books\/(\d+)$/;

self.addEventListener("install", function (event) {
  // one file at a time and tolerant: a missing file must not stop the worker from installing
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    return Promise.all(SHELL_FILES.map(function (url) {
      return fetch(url, { credentials: "same-origin" }).then(function (response) {
        if (response.ok) return cache.put(url, response);
      }).catch(function () { /* offline at install: kept on the next visit */ });
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("sachnoi-shell-") === 0 && n !== SHELL; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function fromBook(bookId, request) {
  return caches.has("sachnoi-book-" + bookId).then(function (has) {
    if (!has) return undefined;
    return caches.open("sachnoi-book-" + bookId).then(function (cache) {
      return cache.match(request.url, { ignoreSearch: true });
    });
  });
}

function cacheFirst(bookId, request) {
  return fromBook(bookId, request).then(function (hit) { return hit || fetch(request); });
}

function fromNetworkOrBook(bookId, request) {
  return fetch(request).catch(function () {
    return fromBook(bookId, request).then(function (hit) { return hit || Response.error(); });
  });
}

function page(request, bookId) {
  return fetch(request).catch(function () {
    var cached = bookId ? fromBook(bookId, request) : Promise.resolve(undefined);
    return cached.then(function (hit) {
      return hit || caches.open(SHELL).then(function (cache) { return cache.match("/offline"); })
        .then(function (shell) {
          return shell || new Response("Không có mạng (offline).", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
        });
    });
  });
}

function shellFile(request, path) {
  return fetch(request).then(function (response) {
    if (response.ok && request.method === "GET") {
      var copy = response.clone();
      caches.open(SHELL).then(function (cache) { cache.put(path, copy); });
    }
    return response;
  }).catch(function () {
    return caches.open(SHELL).then(function (cache) { return cache.match(path); })
      .then(function (hit) { return hit || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.headers.has("X-Sachnoi-Download")) return;  // offline.js filling a cache: straight to the network
  var path = url.pathname, m;
  if ((m = BOOK_MEDIA.exec(path)) || (m = COVER.exec(path))) {
    event.respondWith(cacheFirst(m[1], request));
  } else if ((m = BOOK_TEXT.exec(path))) {  // the read-along text: fresh when online (re-alignment), else the copy
    event.respondWith(fromNetworkOrBook(m[1], request));
  } else if (request.mode === "navigate") {
    m = BOOK_PAGE.exec(path);
    event.respondWith(page(request, m ? m[1] : null));
  } else if (path.indexOf("/static/") === 0 || path === "/manifest.webmanifest") {
    event.respondWith(shellFile(request, path));
  }
});
