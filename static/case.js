// Case page as a review workspace: heatmap viewer (opacity, overlay / side by side, zoom and pan),
// keyboard review with a help overlay, and live status while analyses run.
(function () {
  "use strict";

  // --- Heatmap viewer ---------------------------------------------------------------------------
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
  document.querySelectorAll(".viewer").forEach(function (viewer) {
    viewer.querySelectorAll("[data-mode-set]").forEach(function (button) {
      button.addEventListener("click", function () {
        viewer.dataset.mode = button.dataset.modeSet;
        viewer.querySelectorAll("[data-mode-set]").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
      });
    });
    var zoom = viewer.querySelector("select.zoom");
    var canvas = viewer.querySelector(".canvas");
    var scroller = viewer.querySelector(".canvas-scroll");
    if (zoom && canvas) {
      zoom.addEventListener("change", function () {
        canvas.style.width = (parseFloat(zoom.value) * 100) + "%";
        viewer.classList.toggle("zoomed", zoom.value !== "1");
      });
    }
    if (scroller) {  // drag to pan a zoomed image
      var drag = null;
      scroller.addEventListener("pointerdown", function (e) {
        if (!viewer.classList.contains("zoomed")) return;
        drag = { x: e.clientX, y: e.clientY, left: scroller.scrollLeft, top: scroller.scrollTop };
        scroller.setPointerCapture(e.pointerId);
      });
      scroller.addEventListener("pointermove", function (e) {
        if (!drag) return;
        scroller.scrollLeft = drag.left - (e.clientX - drag.x);
        scroller.scrollTop = drag.top - (e.clientY - drag.y);
      });
      scroller.addEventListener("pointerup", function () { drag = null; });
    }
  });

  // --- Keyboard review --------------------------------------------------------------------------
  var cards = Array.prototype.slice.call(document.querySelectorAll("section.image-result"));
  var help = document.getElementById("shortcuts");
  var current = 0;

  function select(index, focus) {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach(function (card, i) { card.classList.toggle("current", i === current); });
    document.querySelectorAll("[data-thumb]").forEach(function (thumb) {
      if (thumb.dataset.thumb === cards[current].dataset.image) thumb.setAttribute("aria-current", "true");
      else thumb.removeAttribute("aria-current");
    });
    if (focus) {
      cards[current].scrollIntoView({ block: "start" });
      cards[current].focus({ preventScroll: true });
      if (history.replaceState) history.replaceState(null, "", "#" + cards[current].id);
    }
  }
  function indexOfHash() {
    var id = window.location.hash.slice(1);
    for (var i = 0; i < cards.length; i++) if (cards[i].id === id) return i;
    return -1;
  }
  var start = indexOfHash();
  select(start >= 0 ? start : 0, false);
  window.addEventListener("hashchange", function () { var i = indexOfHash(); if (i >= 0) select(i, false); });
  document.querySelectorAll("[data-thumb]").forEach(function (thumb, i) {
    thumb.addEventListener("click", function () { select(i, false); });
  });

  function toggleHelp(show) {
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) document.getElementById("shortcuts-close").focus();
  }
  var open = document.getElementById("shortcuts-open");
  if (open) open.addEventListener("click", function () { toggleHelp(true); });
  var close = document.getElementById("shortcuts-close");
  if (close) close.addEventListener("click", function () { toggleHelp(false); });

  function choose(card, verdict) {
    var radio = card.querySelector(".decision-form input[name=verdict][value=" + verdict + "]");
    if (!radio) return;
    radio.checked = true;
    var comment = card.querySelector(".decision-form textarea[name=comment]");
    if (comment) comment.focus();
  }

  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) && e.target.type !== "radio";
    if (typing) {
      if (e.key === "Escape") e.target.blur();
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.form) e.target.form.requestSubmit();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "?") { e.preventDefault(); return toggleHelp(); }
    if (e.key === "Escape") return toggleHelp(false);
    if (help && !help.hidden) return;
    var card = cards[current];
    switch (e.key) {
      case "j": e.preventDefault(); return select(current + 1, true);
      case "k": e.preventDefault(); return select(current - 1, true);
      case "n": {
        var next = document.querySelector(".workspace").dataset.nextUnreviewed;
        for (var i = 0; i < cards.length; i++) if (cards[i].dataset.image === next) { e.preventDefault(); return select(i, true); }
        return;
      }
      case "c": {
        var confirm = card && card.querySelector("form.confirm-form");
        if (confirm) { e.preventDefault(); confirm.requestSubmit(); }
        return;
      }
      case "o": {
        if (!card) return;
        e.preventDefault();
        return choose(card, card.dataset.modelLabel === "real" ? "ai_generated" : "real");
      }
      case "i": if (card) { e.preventDefault(); choose(card, "inconclusive"); } return;
      case "m": {
        var box = card && card.querySelector(".decision-form textarea[name=comment]");
        if (box) { e.preventDefault(); box.focus(); }
        return;
      }
    }
  });

  // --- Live status while analyses are pending ---------------------------------------------------
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
