// Draw every figure on the page from its JSON data block (no inline script, so a strict CSP holds).
(function () {
  "use strict";

  // The page sends the shared look (a plotly template) once rather than inside every figure.
  function sharedTemplate() {
    var source = document.getElementById("figure-template");
    return source ? JSON.parse(source.textContent) : null;
  }

  function draw(el, template) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    var layout = figure.layout || {};
    // Figures are serialised with an empty template; one of their own would be kept.
    var own = layout.template && Object.keys(layout.template).length > 0;
    if (template && !own) { layout.template = template; }
    var config = { responsive: true, displaylogo: false };
    window.Plotly.newPlot(el, figure.data || [], layout, config).then(function () {
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
    var template = sharedTemplate();
    document.querySelectorAll("[data-figure]").forEach(function (el) { draw(el, template); });
    autoSubmit();
  });
})();
