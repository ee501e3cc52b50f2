// Draw every figure on the page from its JSON data block (no inline script, so a strict CSP holds).
(function () {
  "use strict";

  // Paper: A4 (210 mm) and US Letter (216 mm) less the 12 mm margins of the print stylesheet leave
  // 186 mm, 703 px; charts are drawn 680 px wide on paper and no taller than a Letter page.
  var PRINT_WIDTH = 680;
  var PRINT_HEIGHT = 900;
  var printing = false;

  // The page sends the shared look (a plotly template) once rather than inside every figure.
  function sharedTemplate() {
    var source = document.getElementById("figure-template");
    return source ? JSON.parse(source.textContent) : null;
  }

  function isTable(el) {
    return (el.data || []).some(function (trace) { return trace.type === "table"; });
  }

  // A table arrives tall enough for every row at the narrowest width it is drawn at (so it never
  // scrolls and no row is lost on paper); once drawn, it is shortened to the rows it really has.
  function fitTable(el) {
    var cells = el.querySelectorAll(".table .cell-rect");
    if (!cells.length) { return Promise.resolve(); }
    var top = el.getBoundingClientRect().top;
    var bottom = 0;
    cells.forEach(function (cell) { bottom = Math.max(bottom, cell.getBoundingClientRect().bottom); });
    var margin = (el._fullLayout && el._fullLayout.margin.b) || 0;
    var needed = Math.ceil(bottom - top) + margin + 8;
    if (needed >= el._fullLayout.height) { return Promise.resolve(); }
    if (printing) { el.style.height = needed + "px"; }
    return window.Plotly.relayout(el, { height: needed });
  }

  function fullHeight(el) {
    return Number(el.getAttribute("data-full-height")) || null;
  }

  function draw(el, template) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    var layout = figure.layout || {};
    // Figures are serialised with an empty template; one of their own would be kept.
    var own = layout.template && Object.keys(layout.template).length > 0;
    if (template && !own) { layout.template = template; }
    el.setAttribute("data-full-height", layout.height || "");
    var config = { responsive: true, displaylogo: false };
    window.Plotly.newPlot(el, figure.data || [], layout, config).then(function () {
      // A chart drawn while the page is printing takes the paper's size at once.
      if (printing) { return fitForPrint(el, true); }
      return isTable(el) ? fitTable(el) : null;
    }).then(function () {
      el.setAttribute("data-rendered", "true");
    });
  }

  // Charts in view (and the next screenful) are drawn at once; the others one at a time once the
  // page has loaded, so the page can be read and scrolled without waiting for charts out of sight.
  var waiting = [];
  var look = null;

  function nearView(el) {
    return el.getBoundingClientRect().top < window.innerHeight * 2;
  }

  function drawNext() {
    var el = waiting.shift();
    if (!el) { return; }
    draw(el, look);
    window.setTimeout(drawNext, 0);
  }

  function drawAll() {
    look = sharedTemplate();
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      if (nearView(el)) { draw(el, look); } else { waiting.push(el); }
    });
    if (document.readyState === "complete") {
      window.setTimeout(drawNext, 0);
    } else {
      window.addEventListener("load", function () { window.setTimeout(drawNext, 0); });
    }
  }

  // A chart keeps the width it had on screen unless told otherwise, so before printing each is
  // redrawn at the print width, and after printing it fits its box on screen again. A responsive
  // chart refits itself to its own box on any resize, so while printing that box gets fixed sizes.
  // Chromium says when printing starts and ends through matchMedia("print") and through
  // beforeprint/afterprint; the flag keeps the second call idle.
  function forPrint(on) {
    if (on === printing || !window.Plotly) { return; }
    printing = on;
    // Paper shows every chart: the ones still waiting their turn are drawn now, at the paper's size.
    while (on && waiting.length) { draw(waiting.shift(), look); }
    var done = [];
    document.querySelectorAll("[data-rendered=true]").forEach(function (el) {
      done.push(fitForPrint(el, on));
    });
    Promise.all(done).then(function () {
      document.documentElement.setAttribute("data-print-layout", on ? "print" : "screen");
    });
  }

  function fitForPrint(el, on) {
    var height = fullHeight(el);
    var table = isTable(el);
    var size;
    if (on) {
      size = { width: PRINT_WIDTH, height: height && !table ? Math.min(height, PRINT_HEIGHT) : height };
      el.setAttribute("data-screen-style", el.style.cssText);
      el.style.width = size.width + "px";
      if (size.height) { el.style.height = size.height + "px"; }
    } else {
      el.style.cssText = el.getAttribute("data-screen-style") || "";
      size = { autosize: true, width: null, height: height };
    }
    return window.Plotly.relayout(el, size).then(function () {
      return table ? fitTable(el) : null;
    });
  }

  function followPrinting() {
    var media = window.matchMedia ? window.matchMedia("print") : null;
    if (media && media.addEventListener) {
      media.addEventListener("change", function (event) { forPrint(event.matches); });
    }
    window.addEventListener("beforeprint", function () { forPrint(true); });
    window.addEventListener("afterprint", function () { forPrint(false); });
  }

  // A narrower window wraps table rows onto more lines: give tables their full height back, then
  // fit them again.
  function refitTablesOnResize() {
    var pending = null;
    window.addEventListener("resize", function () {
      if (printing) { return; }
      window.clearTimeout(pending);
      pending = window.setTimeout(function () {
        document.querySelectorAll("[data-rendered=true]").forEach(function (el) {
          if (!isTable(el)) { return; }
          window.Plotly.relayout(el, { height: fullHeight(el) }).then(function () { return fitTable(el); });
        });
      }, 250);
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
    drawAll();
    autoSubmit();
    followPrinting();
    refitTablesOnResize();
  });
})();
