/* New clip: first click on the book's waveform sets the start, the second the end. */
(function () {
  "use strict";
  var svg = document.getElementById("book-wave");
  if (!svg) { return; }
  var start = document.getElementById("start");
  var end = document.getElementById("end");
  var selection = document.getElementById("selection");
  var duration = parseFloat(svg.getAttribute("data-duration"));
  var next = "start";
  function draw() {
    var a = parseFloat(start.value), b = parseFloat(end.value);
    if (isFinite(a) && isFinite(b) && b > a) {
      selection.setAttribute("x", String(1000 * a / duration));
      selection.setAttribute("width", String(1000 * (b - a) / duration));
    }
  }
  svg.addEventListener("click", function (event) {
    var box = svg.getBoundingClientRect();
    var t = Math.max(0, Math.min(duration, (event.clientX - box.left) / box.width * duration)).toFixed(2);
    if (next === "start") { start.value = t; end.value = ""; next = "end"; } else { end.value = t; next = "start"; }
    draw();
  });
  start.addEventListener("input", draw);
  end.addEventListener("input", draw);
}());
