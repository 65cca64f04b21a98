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

  // Instant suggestions under the search box (ARIA combobox, keyboard friendly).
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  if (input && list) {
    var active = -1, latest = "";
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; }
    function select(i) {
      var items = list.querySelectorAll("li");
      items.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (items[i]) input.setAttribute("aria-activedescendant", items[i].id);
    }
    var update = debounce(function () {
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
    input.addEventListener("input", update);
    input.addEventListener("keydown", function (e) {
      var n = list.children.length;
      if (list.hidden || !n) return;
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
    desc.addEventListener("input", debounce(function () {
      var q = desc.value.trim();
      if (q.length < 6) { box.hidden = true; return; }
      suggest(q.slice(0, 200)).then(function (data) {
        var items = (data.suggestions || []).slice(0, 3);
        box.textContent = "";
        if (!items.length) { box.hidden = true; return; }
        var p = document.createElement("p");
        p.textContent = "这些文章也许能马上解决您的问题：";
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
})();
