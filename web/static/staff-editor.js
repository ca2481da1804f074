/* Chapter editor: a click on the waveform puts that time into the last time field used for the
   take (the "add" field by default); "play around" plays a few seconds either side of a boundary. */
(function () {
  "use strict";
  var AROUND = 3;
  var lastField = {};
  document.querySelectorAll(".time-input").forEach(function (input) {
    input.addEventListener("focus", function () { lastField[input.getAttribute("data-take")] = input; });
  });
  document.querySelectorAll("svg.waveform").forEach(function (svg) {
    svg.addEventListener("click", function (event) {
      var take = svg.getAttribute("data-take");
      var section = svg.closest(".take");
      var duration = parseFloat(section.getAttribute("data-duration"));
      var box = svg.getBoundingClientRect();
      var seconds = Math.max(0, Math.min(duration - 0.01, (event.clientX - box.left) / box.width * duration));
      var field = lastField[take] || section.querySelector(".add-input");
      field.value = seconds.toFixed(2);
      field.focus();
    });
  });
  document.querySelectorAll(".play-around").forEach(function (button) {
    button.addEventListener("click", function () {
      var audio = document.getElementById("audio-" + button.getAttribute("data-take"));
      var at = parseFloat(button.getAttribute("data-start"));
      var stopAt = at + AROUND;
      function stopper() { if (audio.currentTime >= stopAt) { audio.pause(); audio.removeEventListener("timeupdate", stopper); } }
      function go() { audio.currentTime = Math.max(0, at - AROUND); audio.addEventListener("timeupdate", stopper); audio.play(); }
      if (audio.readyState >= 1) { go(); } else { audio.preload = "auto"; audio.addEventListener("loadedmetadata", go, { once: true }); audio.load(); }
    });
  });
}());
