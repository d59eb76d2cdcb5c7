// While analyses are pending, poll the case's status and reload once something changes.
(function () {
  var el = document.getElementById("case-status");
  if (!el || el.dataset.pending !== "1") return;
  var url = el.dataset.statusUrl;
  var last = null;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 5000);
        var key = JSON.stringify(data.analyses);
        if (last !== null && key !== last) return window.location.reload();
        last = key;
        if (data.pending === 0) return window.location.reload();
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1500);
})();
