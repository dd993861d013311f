// Live progress for the netpilot setup page: while a connect runs, ask /status.json every
// second and show its status box. The page works without this (a meta refresh does it).
(function () {
  var box = document.getElementById("status");
  if (!box) return;
  function poll() {
    fetch("/status.json", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        var now = document.getElementById("status");
        if (now && now.outerHTML !== s.html) now.outerHTML = s.html;
        if (s.busy) setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  if (box.dataset.phase === "busy") setTimeout(poll, 1000);
})();
