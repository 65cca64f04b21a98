// helpcenter preview: reload the page once the articles folder has been rebuilt after a save.
(function () {
  "use strict";
  var banner = document.getElementById("preview");
  if (!banner || !window.fetch) return;
  var url = banner.getAttribute("data-changes");
  var seen = parseInt(banner.getAttribute("data-version"), 10) || 0;
  function wait() {
    fetch(url + "?since=" + seen, {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (state) {
        if (state.version > seen) { window.location.reload(); return; }
        wait();
      })
      .catch(function () { setTimeout(wait, 2000); });  // the preview was stopped or restarted
  }
  wait();
})();
