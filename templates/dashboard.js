// The live log tail of an app's page: server-sent events into the log box. The page
// works without it (the "Recent lines" link); nothing else on the dashboard needs
// JavaScript.
"use strict";
(function () {
  var MAX_LINES = 500;
  document.querySelectorAll("[data-log-stream]").forEach(function (box) {
    if (!window.EventSource) return;
    var status = document.querySelector("[data-log-status]");
    var lines = [];
    var source = new EventSource(box.getAttribute("data-log-stream"));
    source.onmessage = function (event) {
      lines.push(event.data);
      if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
      var atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      box.textContent = lines.join("\n");
      if (atBottom) box.scrollTop = box.scrollHeight;
    };
    source.addEventListener("unavailable", function (event) {
      source.close();
      if (status) status.textContent = event.data;
    });
    window.addEventListener("pagehide", function () { source.close(); });
  });
})();
