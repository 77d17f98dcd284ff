/* Keeps the banners of an open page current (data age, a refused segment, downtime)
   without reloading it: asks the station's /status.json every few seconds and puts the
   banners it answers in place (web/live.py). Same origin only, no inline script: the
   page's Content-Security-Policy holds. When the station stops answering, the page says
   that the age it shows is no longer kept current. */
(function () {
  "use strict";
  var box = document.querySelector(".banners[data-status]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-status");
  var every = Math.max(1, parseInt(box.getAttribute("data-every"), 10) || 30) * 1000;
  var shown = null;

  function offline() {
    if (box.querySelector(".station-offline")) {
      return;
    }
    var line = document.createElement("div");
    line.className = "banner stale station-offline";
    line.setAttribute("role", "alert");
    line.textContent = box.getAttribute("data-offline");
    box.insertBefore(line, box.firstChild);
  }

  function update(status) {
    if (status.key !== shown || box.querySelector(".station-offline")) {
      box.innerHTML = status.banners;  /* the station's own escaped HTML */
      shown = status.key;
    }
    box.setAttribute("data-key", status.key);
  }

  function ask() {
    fetch(url, {credentials: "same-origin", cache: "no-store",
                headers: {"Accept": "application/json"}})
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("status " + answer.status);
        }
        return answer.json();
      })
      .then(update, offline)
      .then(function () { window.setTimeout(ask, every); });
  }

  window.setTimeout(ask, every);
}());
