// Datasets page: poll each dataset whose scan is pending or running (files read, progress bar);
// reload when one finishes, so its counts and the Rescan button show.
(function () {
  var cells = document.querySelectorAll("td.scan[data-status-url]");
  function watch(cell) {
    var bar = cell.querySelector("progress");
    var files = cell.querySelector('[data-field="files"]');
    var status = cell.querySelector('[data-field="status"]');
    function poll() {
      fetch(cell.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return setTimeout(poll, 5000);
          if (data.finished) return window.location.reload();
          if (status) status.textContent = data.status === "scanning" ? "Scanning" : "Waiting for a worker";
          if (data.files_total) {
            if (bar) { bar.max = data.files_total; bar.value = data.files_seen; }
            if (files) files.textContent = data.files_seen + " of " + data.files_total + " files";
          }
          setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 2000);
  }
  Array.prototype.forEach.call(cells, watch);
})();
