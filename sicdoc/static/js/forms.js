/* Progressive enhancement for the clinician forms; every page works without it.
 * - Autosave: what is typed into a form marked data-autosave is kept in localStorage, so a closed tab,
 *   a crash, an expired session or a refused post loses nothing; it is offered back when the form is
 *   opened again. The copy is dropped only once the server confirms the write (a flash marked
 *   data-saved on the next page), so patient text does not linger on a shared computer. A post that
 *   ended on the login page (the session had expired) is put back at once when the same form opens
 *   again after logging in.
 * - Shortcuts: Alt+Shift+S saves the draft.
 * - An answer carried forward from an earlier note loses its mark once it is changed.
 * - The error summary or conflict box takes focus, so screen readers announce it first.
 * - Buttons marked data-print print the page.
 * - A page refused only because it was asked too early (figures still being built: data-retry-in,
 *   in seconds) asks again in the background and shows itself once the answer is no longer a 503.
 */
(function () {
  "use strict";
  var PENDING = "sicdoc:pending";
  var RETURNING = "sicdoc:returning";

  // After a post: drop the copy of what was sent if the server confirmed the write, keep it otherwise;
  // if the post was turned away to the login page, mark the copy to be put back after logging in.
  function settlePending() {
    try {
      var key = window.sessionStorage.getItem(PENDING);
      if (!key) { return; }
      window.sessionStorage.removeItem(PENDING);
      if (document.querySelector("[data-saved]")) {
        window.localStorage.removeItem(key);
      } else if (document.querySelector("form[data-login]")) {
        window.sessionStorage.setItem(RETURNING, key);
      }
    } catch (e) { /* storage unavailable */ }
  }

  function returningTo(key) {
    try {
      if (window.sessionStorage.getItem(RETURNING) !== key) { return false; }
      window.sessionStorage.removeItem(RETURNING);
      return true;
    } catch (e) { return false; }
  }

  function notice(form, message) {
    var box = document.createElement("div");
    box.className = "flash";
    box.setAttribute("role", "status");
    var text = document.createElement("p");
    text.textContent = message;
    box.appendChild(text);
    form.parentNode.insertBefore(box, form);
    return text;
  }

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrf_token" && el.type !== "hidden" && el.type !== "submit";
    });
  }

  function snapshot(form) {
    var data = {};
    fields(form).forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) { (data[el.name] = data[el.name] || []).push(el.value); }
      } else {
        data[el.name] = [el.value];
      }
    });
    return data;
  }

  function restore(form, data) {
    fields(form).forEach(function (el) {
      var values = data[el.name];
      if (!values) { if (el.type === "checkbox") { el.checked = false; } return; }
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = values.indexOf(el.value) !== -1;
      } else {
        el.value = values[0];
      }
    });
  }

  function autosave(form) {
    var key = form.getAttribute("data-autosave");
    var storage;
    try { storage = window.localStorage; } catch (e) { return; }
    if (!key || !storage) { return; }
    var saved = storage.getItem(key);
    var pristine = JSON.stringify(snapshot(form));
    if (saved && saved !== pristine && returningTo(key)) {
      restore(form, JSON.parse(saved));
      notice(form, "The text you sent before you were logged out is back in the form. " +
        "Nothing was saved then: check it and save or sign again.");
    } else if (saved && saved !== pristine) {
      var text = notice(form, "Text typed earlier on this form was not saved. ");
      var box = text.parentNode;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "restore";
      button.textContent = "Restore unsaved text";
      button.addEventListener("click", function () {
        restore(form, JSON.parse(saved));
        box.remove();
        form.querySelector("input:not([type=hidden]), textarea").focus();
      });
      text.appendChild(button);
    }
    var timer = null;
    function keep() {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        try { storage.setItem(key, JSON.stringify(snapshot(form))); } catch (e) { /* storage full: ignore */ }
      }, 400);
    }
    form.addEventListener("input", keep);
    form.addEventListener("change", keep);
    form.addEventListener("submit", function () {
      window.clearTimeout(timer);
      try {
        storage.setItem(key, JSON.stringify(snapshot(form)));
        window.sessionStorage.setItem(PENDING, key);
      } catch (e) { /* storage unavailable: nothing to keep */ }
    });
  }

  function carriedMarks(form) {
    function unmark(event) {
      var box = event.target.closest ? event.target.closest(".field") : null;
      var mark = box && box.querySelector("[data-carried]");
      if (!mark) { return; }
      mark.removeAttribute("data-carried");
      mark.className = "hint";
      mark.textContent = "Edited: no longer as carried forward.";
    }
    form.addEventListener("input", unmark);
    form.addEventListener("change", unmark);
  }

  function shortcuts(form) {
    document.addEventListener("keydown", function (event) {
      if (event.altKey && event.shiftKey && (event.key === "S" || event.key === "s")) {
        var save = form.querySelector("button[value=save]");
        if (save) { event.preventDefault(); save.click(); }
      }
    });
  }

  // Asked again without reloading, so the page does not flash or take focus while it waits.
  function retryWhenReady(notice) {
    var seconds = parseInt(notice.getAttribute("data-retry-in"), 10) || 5;
    notice.hidden = false;
    function ask() {
      window.fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (resp) {
          if (resp.status === 503) { window.setTimeout(ask, seconds * 1000); } else { window.location.reload(); }
        })
        .catch(function () { window.setTimeout(ask, seconds * 1000); });
    }
    window.setTimeout(ask, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    settlePending();
    var retry = document.querySelector("[data-retry-in]");
    if (retry) { retryWhenReady(retry); }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-autosave]"), function (form) {
      autosave(form);
      shortcuts(form);
      carriedMarks(form);
    });
    var alertBox = document.getElementById("conflict") || document.getElementById("error-summary");
    if (alertBox) { alertBox.focus(); }
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
