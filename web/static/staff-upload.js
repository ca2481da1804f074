/* Studio upload: one progress bar per file. Uses tus (resumable) when the server offers it,
   otherwise a plain upload per file. Without JavaScript the form posts all files at once. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var list = document.getElementById("upload-list");
  var status = document.getElementById("upload-status");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var vi = document.documentElement.lang !== "en";
  function t(viText, enText) { return vi ? viText : enText; }

  function row(file) {
    var li = document.createElement("li");
    var label = document.createElement("label");
    var bar = document.createElement("progress");
    var id = "up-" + Math.random().toString(36).slice(2);
    bar.id = id; bar.max = 100; bar.value = 0;
    label.htmlFor = id;
    label.textContent = file.name;
    var note = document.createElement("span");
    note.className = "source";
    li.appendChild(label); li.appendChild(bar); li.appendChild(note);
    list.appendChild(li);
    return { bar: bar, note: note };
  }

  function post(url, data) {
    return fetch(url, { method: "POST", body: data, credentials: "same-origin",
                        headers: { "X-CSRFToken": csrf, "Accept": "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.message || r.statusText); }
          return body;
        });
      });
  }

  function viaXhr(url, file, ui) {
    return new Promise(function (resolve, reject) {
      var data = new FormData();
      data.append("file", file);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { ui.bar.value = Math.round(100 * e.loaded / e.total); } };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(body); } else { reject(new Error(body.message || xhr.statusText)); }
      };
      xhr.onerror = function () { reject(new Error(t("Mất kết nối", "Connection lost"))); };
      xhr.send(data);
    });
  }

  function viaTus(endpoint, sessionId, file, ui) {
    return new Promise(function (resolve, reject) {
      var upload = new window.tus.Upload(file, {
        endpoint: endpoint,
        retryDelays: [0, 1000, 3000, 5000, 10000],
        chunkSize: 8 * 1024 * 1024,
        headers: { "X-CSRFToken": csrf },
        metadata: { filename: file.name, filetype: file.type || "application/octet-stream",
                    session_id: String(sessionId) },
        fingerprint: function (f) {
          return Promise.resolve(["sachnoi", sessionId, f.name, f.size, f.lastModified].join("-"));
        },
        onError: reject,
        onProgress: function (sent, total) { ui.bar.value = Math.round(100 * sent / total); },
        onSuccess: function () { resolve(upload.url); }
      });
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) { upload.resumeFromPreviousUpload(previous[0]); }
        upload.start();
      });
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
    var meta = new FormData();
    meta.append("name", document.getElementById("session-name").value);
    var endpoint = form.getAttribute("data-tus-endpoint");
    var useTus = endpoint && window.tus && window.tus.isSupported;
    post(form.action, meta).then(function (created) {
      var url = form.getAttribute("data-takes-url").replace("/0/", "/" + created.session_id + "/");
      var chain = Promise.resolve();
      var failures = 0;
      files.forEach(function (file) {
        var ui = row(file);
        chain = chain.then(function () {
          var job = useTus ? viaTus(endpoint, created.session_id, file, ui) : viaXhr(url, file, ui);
          return job.then(function () {
            ui.bar.value = 100;
            ui.note.textContent = " " + t("xong", "done");
          }, function (err) {
            failures += 1;
            ui.note.textContent = " " + t("lỗi: ", "error: ") + err.message;
          });
        });
      });
      return chain.then(function () {
        status.textContent = failures ? t("Một số tệp bị từ chối.", "Some files were refused.")
                                      : t("Đã tải lên tất cả các tệp.", "All files uploaded.");
        button.disabled = false;
        if (!failures) { window.setTimeout(function () { window.location.reload(); }, 600); }
      });
    }).catch(function (err) {
      status.textContent = t("Lỗi: ", "Error: ") + err.message;
      button.disabled = false;
    });
  });
}());
