// Case page behaviour: live status while analyses run, and the heatmap opacity sliders.
(function () {
  // Opacity sliders: each range input names the overlay image it controls.
  document.querySelectorAll("input.opacity[data-target]").forEach(function (input) {
    var target = document.getElementById(input.dataset.target);
    var output = document.getElementById(input.id + "-value");
    function apply() {
      if (target) target.style.opacity = input.value / 100;
      if (output) output.textContent = input.value + "%";
    }
    input.addEventListener("input", apply);
    apply();
  });

  // While analyses are pending, poll the case's status and reload once something changes.
  var el = document.getElementById("case-status");
  if (!el || el.dataset.pending !== "1") return;
  var url = el.dataset.statusUrl;
  var last = null;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 5000);
        el.textContent = data.pending ? data.pending + " analysis(es) still running…" : "All analyses finished.";
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
