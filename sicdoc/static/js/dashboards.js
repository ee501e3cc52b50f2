// Draw every figure on the page from its JSON data block (no inline script, so a strict CSP holds).
(function () {
  "use strict";

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    var config = { responsive: true, displaylogo: false };
    window.Plotly.newPlot(el, figure.data || [], figure.layout || {}, config).then(function () {
      el.setAttribute("data-rendered", "true");
    });
  }

  function autoSubmit() {
    // Changing a choice applies it at once; the date fields still wait for "Apply".
    var form = document.querySelector("form.filters");
    if (!form) { return; }
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-figure]").forEach(draw);
    autoSubmit();
  });
})();
