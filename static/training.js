// Training run page: poll the run's status while it is queued or running (step progress bar,
// ETA, running loss and accuracy); reload when it ends.
(function () {
  var el = document.getElementById("run-status");
  if (!el || el.dataset.finished === "1") return;
  function show(name, value) {
    var field = el.querySelector('[data-field="' + name + '"]');
    if (field && value !== null && value !== undefined) {
      field.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : value;
    }
  }
  var bar = document.getElementById("step-progress");
  function percent(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }
  // Same as the template filter "duration": 95 -> "1 min 35 s", 4000 -> "1 h 6 min".
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    var total = Math.max(0, Math.round(seconds));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    if (h) return h + " h " + m + " min";
    return m ? m + " min " + s + " s" : s + " s";
  }
  function poll() {
    fetch(el.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 5000);
        ["status", "epoch", "epochs", "step", "total_steps", "train_loss"].forEach(function (k) { show(k, data[k]); });
        show("train_accuracy", percent(data.train_accuracy));
        show("val_accuracy", percent(data.val_accuracy));
        show("eta", duration(data.eta_s));
        if (bar && data.total_steps) {
          bar.max = data.total_steps;
          bar.value = data.step;
          show("step_percent", Math.round((100 * data.step) / data.total_steps) + "%");
        }
        if (data.finished) return window.location.reload();
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
