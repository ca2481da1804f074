/* Studio upload: one progress bar per file. Uses tus (resumable) when the server offers it,
   otherwise a plain upload per file. Without JavaScript the form posts all files at once.

   The recording session is created by the server with the first take that completes (tus
   metadata book_id + session_name; the later files of the batch name its session_id), so an
   abandoned or refused upload never leaves an empty session. An upload interrupted by a closed
   tab continues when the same file is chosen again: tus-js-client keeps its URL in localStorage
   under a fingerprint of the book and the file (not of a session, which may not exist yet).
   Errors show the server's reason in the page's language, never tus's or HTTP's own text, and
   a bar reaches 100 % only when the server has accepted the file. */
(function () {
  "use strict";
  var vi = document.documentElement.lang !== "en";
  function t(viText, enText) { return vi ? viText : enText; }

  document.querySelectorAll("form.delete-session").forEach(function (f) {
    f.addEventListener("submit", function (event) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var list = document.getElementById("upload-list");
  var status = document.getElementById("upload-status");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var bookId = form.getAttribute("data-book-id");
  var SENT_MAX = 99; // the last per cent waits for the server's checks

  function row(file) {
    var li = document.createElement("li");
    var label = document.createElement("label");
    var bar = document.createElement("progress");
    var id = "up-" + Math.random().toString(36).slice(2);
    bar.id = id; bar.max = 100; bar.value = 0;
    label.htmlFor = id;
    label.textContent = file.name;
    var note = document.createElement("span");
    note.className = "upload-note";
    li.appendChild(label); li.appendChild(bar); li.appendChild(note);
    list.appendChild(li);
    return { li: li, bar: bar, note: note, name: file.name };
  }

  function sent(ui, done, total) {
    ui.bar.value = Math.min(SENT_MAX, Math.floor(100 * done / Math.max(1, total)));
  }

  /* The server's sentence ("tệp.wav: lý do (English reason)"), reason first: the file name is
     already the row's label, and the English tail is for the English page only. */
  function serverReason(text, name) {
    var out = String(text || "").trim().split("\n")[0];
    if (name && out.indexOf(name + ": ") === 0) { out = out.slice(name.length + 2); }
    if (vi) { out = out.replace(/\s*\([A-Za-z][^()]*\)\s*$/, ""); }
    return out;
  }

  function reasonFor(status, body, name) {
    if (body) { return serverReason(body, name); }
    if (status === 413) { return t("Tệp lớn hơn giới hạn máy chủ cho phép.", "The file is larger than the server allows."); }
    if (status === 401 || status === 403) {
      return t("Phiên đăng nhập đã hết hoặc bạn không có quyền tải lên: hãy đăng nhập lại.",
               "Your login has expired or you may not upload: please log in again.");
    }
    if (status >= 500) { return t("Máy chủ gặp sự cố: hãy thử lại sau ít phút.", "The server had a problem: try again in a few minutes."); }
    if (!status) {
      return t("Mất kết nối tới máy chủ: chọn lại đúng tệp này để tải tiếp từ chỗ đã dừng.",
               "The connection was lost: choose the same file again to continue where it stopped.");
    }
    return t("Máy chủ không nhận tệp này.", "The server refused this file.");
  }

  /* An Error carrying the reason; `refused` when the server answered no (it then keeps nothing,
     so the bar goes back to 0), not when the connection was lost (it keeps what arrived). */
  function uploadError(status, body, name) {
    var err = new Error(reasonFor(status, body, name));
    err.refused = status >= 400;
    return err;
  }

  /* A tus-js-client error. Only our own answers (they carry Tus-Resumable) have a body worth
     showing; a proxy's or the server's generic page does not. */
  function tusError(err, name) {
    var res = err && err.originalResponse;
    if (!res) { return uploadError(0, "", name); }
    var own = res.getHeader("Tus-Resumable") && !/^\s*</.test(res.getBody() || "");
    return uploadError(res.getStatus(), own ? res.getBody() : "", name);
  }

  function failed(ui, err) {
    var reason = err.message;
    if (err.refused) { ui.bar.value = 0; }
    ui.li.className = "upload-failed";
    ui.note.textContent = t("Lỗi: ", "Error: ") + reason;
    ui.bar.setAttribute("aria-describedby", ui.bar.id + "-note");
    ui.note.id = ui.bar.id + "-note";
  }

  function viaTus(endpoint, target, file, ui) {
    return new Promise(function (resolve, reject) {
      var metadata = { filename: file.name, filetype: file.type || "application/octet-stream" };
      if (target.sessionId) { metadata.session_id = String(target.sessionId); }
      else { metadata.book_id = String(bookId); metadata.session_name = target.name; }
      var upload = new window.tus.Upload(file, {
        endpoint: endpoint,
        retryDelays: [0, 1000, 3000, 5000, 10000],
        chunkSize: 8 * 1024 * 1024,
        headers: { "X-CSRFToken": csrf },
        metadata: metadata,
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        fingerprint: function (f) {
          return Promise.resolve(["sachnoi-book", bookId, f.name, f.size, f.lastModified].join("-"));
        },
        onError: function (err) { reject(tusError(err, file.name)); },
        onProgress: function (done, total) { sent(ui, done, total); },
        onSuccess: function () {
          // the take and its session, as the server recorded them
          fetch(upload.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
            .then(function (r) { return r.json(); })
            .then(function (info) { resolve({ session_id: info.session_id }); },
                  function () { resolve({}); });
        }
      });
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) {
          upload.resumeFromPreviousUpload(previous[0]);
          ui.note.textContent = t("tiếp tục từ lần trước…", "continuing the earlier upload…");
        }
        upload.start();
      });
    });
  }

  function viaXhr(target, file, ui) {
    return new Promise(function (resolve, reject) {
      var data = new FormData();
      var url;
      if (target.sessionId) {
        url = form.getAttribute("data-takes-url").replace("/0/", "/" + target.sessionId + "/");
        data.append("file", file);
      } else {
        url = form.action;
        data.append("name", target.name);
        data.append("files", file);
      }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { sent(ui, e.loaded, e.total); } };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(body || {}); return; }
        reject(uploadError(xhr.status, body && body.message, file.name));
      };
      xhr.onerror = function () { reject(uploadError(0, "", file.name)); };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", function (event) {
    var input = document.getElementById("session-files");
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) { return; }
    event.preventDefault();
    var button = document.getElementById("upload-button");
    button.disabled = true;
    list.textContent = "";
    status.textContent = t("Đang tải lên…", "Uploading…");
    var endpoint = form.getAttribute("data-tus-endpoint");
    var useTus = endpoint && window.tus && window.tus.isSupported;
    var target = { name: document.getElementById("session-name").value, sessionId: null };
    var chain = Promise.resolve();
    var failures = 0;
    files.forEach(function (file) {
      var ui = row(file);
      chain = chain.then(function () {
        var job = useTus ? viaTus(endpoint, target, file, ui) : viaXhr(target, file, ui);
        return job.then(function (result) {
          if (result && result.session_id) { target.sessionId = result.session_id; }
          ui.bar.value = 100;
          ui.note.textContent = " " + t("xong", "done");
        }, function (err) {
          failures += 1;
          failed(ui, err);
        });
      });
    });
    chain.then(function () {
      status.textContent = failures ? t("Một số tệp không tải lên được; xem lý do bên cạnh từng tệp.",
                                        "Some files were not uploaded; see the reason beside each file.")
                                    : t("Đã tải lên tất cả các tệp.", "All files uploaded.");
      button.disabled = false;
      if (!failures) { window.setTimeout(function () { window.location.reload(); }, 600); }
    });
  });
}());
