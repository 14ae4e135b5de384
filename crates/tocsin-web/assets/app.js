// Tocsin's one script: progressive enhancement only, every page works without it.
// - Live pages (body[data-live-src]) listen to /ui/events (Server-Sent Events); when an incident
//   they show changes, they fetch the server-rendered fragment and swap each of its top-level
//   elements into the element with the same id, keeping keyboard focus where it was. Monitors
//   pages (data-live-on="monitors") refresh on the `monitors` event instead, which the server
//   sends at most once a second; the page also fetches at most once a second.
// - Buttons with data-copy copy the text of the element they name.
"use strict";

(function () {
  var body = document.body;
  var src = body.getAttribute("data-live-src");
  var watched = body.getAttribute("data-live-incident") || "*";
  var on = body.getAttribute("data-live-on") || "incident";
  var state = document.getElementById("live-state");
  var timer = null;
  var inFlight = false;
  var again = false;

  function show(s, text) {
    if (!state) return;
    state.setAttribute("data-state", s);
    state.textContent = text;
  }

  // Where focus was, as something that can be found again in the fresh markup.
  function focusKey(el) {
    if (!el || el === body) return null;
    if (el.id) return "#" + el.id;
    var key = el.getAttribute("data-key");
    if (key) return '[data-key="' + key + '"]';
    return null;
  }

  function swap(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var active = document.activeElement;
    var key = focusKey(active);
    Array.prototype.slice.call(tpl.content.children).forEach(function (fresh) {
      var old = fresh.id && document.getElementById(fresh.id);
      if (old) old.replaceWith(fresh);
    });
    if (key && !document.body.contains(active)) {
      var target = document.querySelector(key);
      if (target) target.focus();
    }
  }

  function refresh() {
    if (!src) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    fetch(src, { credentials: "same-origin", cache: "no-store", headers: { "X-Tocsin-Fragment": "1" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) swap(html); })
      .catch(function () { /* the next event or reconnect refreshes again */ })
      .then(function () {
        inFlight = false;
        if (again) { again = false; refresh(); }
      });
  }

  // Several changes in a burst make one fetch.
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 50);
  }

  // At most one fetch a second, however often this is called: the first soon, the rest folded
  // into one at the end of the second.
  var lastThrottled = 0;
  var throttleTimer = null;
  function throttled() {
    if (throttleTimer) return;
    var wait = Math.max(50, lastThrottled + 1000 - Date.now());
    throttleTimer = setTimeout(function () {
      throttleTimer = null;
      lastThrottled = Date.now();
      refresh();
    }, wait);
  }

  if (src && window.EventSource) {
    var lost = false;
    var events = new EventSource("/ui/events");
    if (on === "monitors") {
      events.addEventListener("monitors", throttled);
    } else {
      events.addEventListener("incident", function (e) {
        if (watched === "*" || watched === e.data) soon();
      });
    }
    // The server dropped events for this stream (it fell behind): refresh everything.
    events.addEventListener("resync", soon);
    events.onopen = function () {
      show("live", "Live");
      if (lost) { lost = false; soon(); }
    };
    events.onerror = function () {
      lost = true;
      show("down", "Reconnecting…");
    };
    // Ages ("5 min") move on even when nothing changes.
    setInterval(soon, 60000);
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-copy]");
    if (!button) return;
    var from = document.getElementById(button.getAttribute("data-copy"));
    if (!from) return;
    var text = from.textContent;
    var done = function () {
      var was = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = was; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var range = document.createRange();
      range.selectNodeContents(from);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { document.execCommand("copy"); done(); } catch (err) { /* selected for manual copy */ }
    }
  });
})();
