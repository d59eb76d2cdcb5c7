// Training run page: poll the run's status while it is queued or running; reload when it ends.
(function () {
  var el = document.getElementById("run-status");
  if (!el || el.dataset.finished === "1") return;
  function show(name, value) {
    var field = el.querySelector('[data-field="' + name + '"]');
    if (field && value !== null && value !== undefined) {
      field.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : value;
    }
  }
  function poll() {
    fetch(el.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 5000);
        ["status", "epoch", "epochs", "step", "total_steps", "train_loss", "val_accuracy"].forEach(function (k) { show(k, data[k]); });
        show("eta_s", data.eta_s === null ? null : Math.round(data.eta_s));
        if (data.finished) return window.location.reload();
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
