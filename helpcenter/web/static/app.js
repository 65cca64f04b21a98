// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function debounce(fn, ms) {
    var t;
    return function () {
      var args = arguments, self = this;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }

  function suggest(q) {
    return fetch("/api/suggest?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .catch(function () { return { suggestions: [] }; });
  }

  // While an IME composes (pinyin "chongzhi" before it becomes 充值) the text is not the
  // question yet: call fn only for typed text, and once when a composition ends. Returns a
  // function that tells whether a composition is under way.
  function onTyped(el, fn) {
    var composing = false;
    el.addEventListener("compositionstart", function () { composing = true; });
    el.addEventListener("compositionend", function () { composing = false; fn(); });
    el.addEventListener("input", function (e) { if (!e.isComposing && !composing) fn(); });
    return function () { return composing; };
  }

  // Instant suggestions under the search box (ARIA combobox, keyboard friendly).
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  if (input && list) {
    var active = -1, latest = "", composing = function () { return false; };
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; }
    function select(i) {
      var items = list.querySelectorAll("li");
      items.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (items[i]) input.setAttribute("aria-activedescendant", items[i].id);
    }
    var update = debounce(function () {
      if (composing()) return; // typed just before an IME started: wait for its result
      var q = input.value.trim();
      latest = q;
      if (q.length < 2) { close(); return; }
      suggest(q).then(function (data) {
        if (q !== latest) return; // a newer request is on its way
        list.textContent = "";
        (data.suggestions || []).forEach(function (s, i) {
          var li = document.createElement("li");
          li.id = "sugg-" + i;
          li.setAttribute("role", "option");
          li.dataset.url = s.url;
          li.textContent = s.title;
          var small = document.createElement("small");
          small.textContent = s.category;
          li.appendChild(small);
          li.addEventListener("mousedown", function (e) { e.preventDefault(); location.href = s.url; });
          list.appendChild(li);
        });
        if (list.children.length) { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
        else close();
      });
    }, 200);
    composing = onTyped(input, update);
    input.addEventListener("keydown", function (e) {
      var n = list.children.length;
      // Enter/arrows belong to the IME while it composes (Safari reports that as keyCode 229).
      if (list.hidden || !n || e.isComposing || e.keyCode === 229) return;
      if (e.key === "ArrowDown") { e.preventDefault(); select((active + 1) % n); }
      else if (e.key === "ArrowUp") { e.preventDefault(); select((active - 1 + n) % n); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); location.href = list.children[active].dataset.url; }
      else if (e.key === "Escape") close();
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  // Deflection: while someone describes their problem, show articles that may answer it.
  var desc = document.getElementById("description");
  var box = document.getElementById("deflect");
  if (desc && box) {
    var describing = onTyped(desc, debounce(function () {
      if (describing()) return;
      var q = desc.value.trim();
      if (q.length < 6) { box.hidden = true; return; }
      suggest(q.slice(0, 200)).then(function (data) {
        var items = (data.suggestions || []).slice(0, 3);
        box.textContent = "";
        if (!items.length) { box.hidden = true; return; }
        var p = document.createElement("p");
        p.textContent = box.dataset.msgIntro;
        box.appendChild(p);
        var ul = document.createElement("ul");
        items.forEach(function (s) {
          var li = document.createElement("li"), a = document.createElement("a");
          a.href = s.url; a.target = "_blank"; a.rel = "noopener"; a.textContent = s.title;
          li.appendChild(a); ul.appendChild(li);
        });
        box.appendChild(ul);
        box.hidden = false;
      });
    }, 400));
  }

  // Screenshots: check sizes before anything is sent, so a too-large photo never costs the
  // typed text (the server checks again and brings the filled form back when JS is off).
  var shots = document.getElementById("screenshots");
  if (shots && shots.form) {
    var shotsError = document.getElementById("screenshots-error");
    function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }
    // The messages come from the page, in the reader's locale: {name} placeholders filled here.
    function say(key, values) {
      return (shots.dataset[key] || "").replace(/\{(\w+)\}/g, function (_m, k) { return values[k]; });
    }
    function checkShots() {
      var maxBytes = +shots.dataset.maxBytes, maxFiles = +shots.dataset.maxFiles;
      var maxTotal = +shots.dataset.maxTotal, problems = [], total = 0;
      Array.prototype.forEach.call(shots.files || [], function (f) {
        total += f.size;
        if (f.size > maxBytes) problems.push(say("msgTooBig", {name: f.name, size: mb(f.size), max: shots.dataset.maxMb}));
      });
      var n = (shots.files || []).length;
      if (n > maxFiles) problems.push(say("msgTooMany", {max: maxFiles, n: n}));
      if (total > maxTotal) problems.push(say("msgTooMuch", {total: mb(total), max: mb(maxTotal)}));
      shotsError.textContent = "";
      problems.forEach(function (m) {
        var p = document.createElement("p");
        p.className = "error"; p.textContent = m; shotsError.appendChild(p);
      });
      if (problems.length) shots.setAttribute("aria-invalid", "true");
      else shots.removeAttribute("aria-invalid");
      return !problems.length;
    }
    shots.addEventListener("change", checkShots);
    shots.form.addEventListener("submit", function (e) {
      if (!checkShots()) { e.preventDefault(); shots.focus(); }
    });
  }

  // A form that came back with errors: the first wrong field takes the focus (autofocus may
  // be ignored, e.g. after a reload), and the summary's links focus their field.
  var firstInvalid = document.querySelector("form.contact [aria-invalid=true]");
  if (firstInvalid && document.activeElement !== firstInvalid) firstInvalid.focus();
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (a) {
    a.addEventListener("click", function (e) {
      var target = document.getElementById(a.getAttribute("href").slice(1));
      if (target) { e.preventDefault(); target.focus(); }
    });
  });
})();
