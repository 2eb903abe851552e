// The period board (services/periods/templates/board.html) keeps itself fresh: every few seconds it asks the
// small version route whether anything has changed since the board was drawn and, when it has, fetches the page
// and swaps the board's part in place, keeping focus and scroll, and says so politely to screen readers.
// Served as a file: the pages' Content-Security-Policy allows no inline script. Without it, the page's Refresh
// link does the same.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.fetch || !window.DOMParser) {
    return;
  }
  var seconds = parseInt(board.getAttribute("data-poll-seconds"), 10) || 5;
  var announcement = document.getElementById("board-announcement");
  var busy = false;

  function showAge() {
    var time = document.getElementById("as-of");
    var age = document.getElementById("as-of-age");
    if (!time || !age) {
      return;
    }
    var elapsed = Math.max(0, Math.round((Date.now() - Date.parse(time.getAttribute("datetime"))) / 1000));
    age.textContent = elapsed < 60 ? elapsed + " s ago"
      : elapsed < 3600 ? Math.floor(elapsed / 60) + " min ago" : Math.floor(elapsed / 3600) + " h ago";
  }

  // What identifies a focusable element across a swap: its id, or its form's target and its own text.
  function keyOf(element) {
    if (element.id) {
      return "#" + element.id;
    }
    var form = element.form || element.closest("form");
    var target = form ? form.querySelector("[name=contact_user_id]") || form.querySelector("[name=commitment_id]") : null;
    return element.tagName + ":" + (element.getAttribute("href") || "") + ":" + (target ? target.value : "") + ":" +
      element.textContent;
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
    if (!fresh) {
      return;
    }
    var focused = document.activeElement;
    var focusedKey = focused && focused !== board && board.contains(focused) ? keyOf(focused) : null;
    var x = window.scrollX, y = window.scrollY;
    board.innerHTML = fresh.innerHTML;
    board.setAttribute("data-version", fresh.getAttribute("data-version") || "");
    if (focusedKey) {
      var candidates = board.querySelectorAll("a, button, input");
      for (var i = 0; i < candidates.length; i++) {
        if (keyOf(candidates[i]) === focusedKey) {
          candidates[i].focus({ preventScroll: true });
          break;
        }
      }
    }
    window.scrollTo(x, y);
    showAge();
    if (announcement) {
      var time = document.getElementById("as-of");
      announcement.textContent = "The board was updated" + (time ? " at " + time.textContent : "") + ".";
    }
  }

  function poll() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(board.getAttribute("data-version-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || answer.version === board.getAttribute("data-version")) {
          return null;
        }
        return fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) { if (html) { swap(html); } });
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, seconds * 1000);
  window.setInterval(showAge, 1000);
})();
