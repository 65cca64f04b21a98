// The help widget's panel (inside the host page's iframe; see helpcenter/web/widget.py).
// No cookies: writes go to /widget/api/* with the X-Helpcenter-Widget header.
(function () {
  'use strict';
  var root = document.documentElement;
  var host = root.dataset.host;          // the embedding page's origin, if it is an allowed one
  var locale = root.dataset.locale;
  var prefix = root.dataset.prefix;
  var $ = function (id) { return document.getElementById(id); };
  var texts = {};
  $('w-texts').content.querySelectorAll('[data-k]').forEach(function (el) { texts[el.dataset.k] = el.textContent; });
  if (root.dataset.palette) {  // a data-color of the host: applied through the CSSOM (the CSP allows no inline styles)
    var palette = JSON.parse(root.dataset.palette);
    Object.keys(palette).forEach(function (k) { root.style.setProperty(k, palette[k]); });
  }
  var conversation = null;
  var questions = [];
  var transcript = [];
  var timer = null;

  function post(path, body) {
    return fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Helpcenter-Widget': '1'},
                        body: JSON.stringify(body), credentials: 'omit'})
      .then(function (r) { return r.json().then(function (data) { return {ok: r.ok, data: data}; }); });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }
  function say(who, node) {
    var msg = el('div', 'w-msg w-' + who);
    if (typeof node === 'string') msg.textContent = node; else msg.appendChild(node);
    $('w-log').appendChild(msg);
    msg.scrollIntoView({block: 'end'});
    return msg;
  }
  function choice(label, message) {
    var b = el('button', 'chip', label);
    b.type = 'button';
    b.addEventListener('click', function () { send(message || label, label); });
    return b;
  }
  function articleButton(a) {
    var b = el('button', 'linkish', a.title);
    b.type = 'button';
    b.addEventListener('click', function () { openArticle(a.id, a.anchor); });
    return b;
  }
  function show(reply) {
    var box = el('div');
    box.appendChild(el('p', null, reply.message));
    if (reply.kind === 'answer') {
      var q = el('blockquote', 'w-passage');
      q.innerHTML = reply.passage_html;  // escaped by the server, with <mark> around the question's words
      box.appendChild(el('p', 'w-title', reply.article.title));
      box.appendChild(q);
      var read = articleButton({id: reply.article.id, anchor: reply.article.anchor, title: texts.read});
      box.appendChild(read);
      box.appendChild(el('p', null, reply.ask));
      box.appendChild(choice(texts.yes));
      box.appendChild(choice(texts.no));
    } else if (reply.kind === 'clarify' || reply.kind === 'suggest') {
      var list = el('ul', 'w-options');
      (reply.articles || []).forEach(function (a, i) {
        var li = el('li');
        li.appendChild(reply.kind === 'clarify' ? choice(a.title, String(i + 1)) : articleButton(a));
        list.appendChild(li);
      });
      box.appendChild(list);
      if (reply.kind === 'clarify') box.appendChild(choice(reply.choices[reply.choices.length - 1]));
    }
    if (reply.offer_handoff) box.appendChild(choice(texts.human));
    if (reply.kind === 'handoff' && reply.step === 'created' && reply.status_url) {
      var link = el('a', null, texts.status);
      link.href = reply.status_url;
      link.target = '_blank';
      link.rel = 'noopener';
      box.appendChild(link);
    }
    say('bot', box);
  }
  function send(message, shown) {  // shown: what the person picked, when the message is its number
    message = message.trim();
    if (!message) return;
    var input = $('w-input');
    say('me', shown || message);
    transcript.push(shown || message);
    if (!conversation || questions.length === 0) questions.push(message);
    clearTimeout(timer);  // a suggestion still on its way is for text already sent
    $('w-suggest').hidden = true;
    var body = {message: message, locale: locale, channel: 'widget'};
    if (conversation) body.conversation_id = conversation;
    input.value = '';
    post('/widget/api/assist', body).then(function (r) {
      if (!r.ok) throw new Error(r.data.error || 'error');
      conversation = r.data.conversation_id;
      show(r.data.reply);
    }).catch(function () {
      say('bot', texts.error);
      input.value = message;  // nothing typed is lost
    });
  }
  function openArticle(id, anchor) {
    fetch('/api/articles/' + id + '?locale=' + encodeURIComponent(locale), {credentials: 'omit'})
      .then(function (r) { return r.json(); })
      .then(function (a) {
        var body = $('w-article-body');
        body.innerHTML = '';
        body.appendChild(el('h2', null, a.title));
        var html = el('div', 'body');
        html.innerHTML = a.html;  // sanitised at build time (nh3)
        html.querySelectorAll('a[href]').forEach(function (link) { link.target = '_blank'; link.rel = 'noopener'; });
        body.appendChild(html);
        var full = el('a', null, texts.read);
        full.href = prefix + '/articles/' + id;
        full.target = '_blank';
        full.rel = 'noopener';
        body.appendChild(full);
        view('w-article');
        $('w-back').focus();
        var target = anchor && document.getElementById(anchor);
        if (target) target.scrollIntoView();
      });
  }
  function view(id) {
    ['w-chat', 'w-article', 'w-form'].forEach(function (v) { $(v).hidden = v !== id; });
  }
  $('w-input').addEventListener('input', function () {  // search as you type
    clearTimeout(timer);
    var q = this.value.trim();
    timer = setTimeout(function () {
      var box = $('w-suggest');
      if (q.length < 2) { box.hidden = true; return; }
      fetch('/api/suggest?q=' + encodeURIComponent(q) + '&locale=' + encodeURIComponent(locale), {credentials: 'omit'})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if ($('w-input').value.trim() !== q) return;  // typed on, or sent, meanwhile
          box.innerHTML = '';
          (data.suggestions || []).forEach(function (a) {
            var li = el('li');
            li.appendChild(articleButton({id: a.id, title: a.title}));
            box.appendChild(li);
          });
          box.hidden = !(data.suggestions || []).length;
        });
    }, 250);
  });
  $('w-ask').addEventListener('submit', function (e) { e.preventDefault(); send($('w-input').value); });
  $('w-back').addEventListener('click', function () { view('w-chat'); $('w-input').focus(); });
  $('w-form-back').addEventListener('click', function () { view('w-chat'); $('w-input').focus(); });
  $('w-open-form').addEventListener('click', function () {  // the form, pre-filled from the conversation
    $('w-subject').value = (questions[0] || '').slice(0, 120);
    $('w-description').value = transcript.join('\n');
    view('w-form');
    $('w-subject').focus();
  });
  $('w-request').addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target;
    var body = {subject: f.subject.value, description: f.description.value, email: f.email.value,
                phone: f.phone.value, category: 'other'};
    post('/widget/api/escalations?locale=' + encodeURIComponent(locale), body).then(function (r) {
      if (!r.ok) {
        var err = $('w-form-error');
        err.textContent = (r.data.errors || []).map(function (x) { return x.message; }).join(' ') || r.data.error;
        err.hidden = false;
        f.querySelector('input, textarea').focus();
        return;
      }
      f.hidden = true;
      var done = $('w-form-done');
      done.textContent = texts.sent.replace('{ref}', r.data.reference);
      done.hidden = false;
    });
  });
  function close() { if (host) parent.postMessage({type: 'hc:close'}, host); }
  $('w-close').addEventListener('click', close);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { close(); return; }
    if (e.key !== 'Tab') return;  // keep the focus inside the open panel
    var items = Array.prototype.filter.call(
      document.querySelectorAll('button, input, textarea, a[href], select'),
      function (x) { return !x.closest('[hidden]') && x.offsetParent !== null; });
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
    else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
  });
  window.addEventListener('message', function (e) {  // HelpCenter.open({query}) from the host page
    if (!host || e.origin !== host || e.source !== parent) return;
    if (e.data && e.data.type === 'hc:ask' && e.data.query) send(String(e.data.query));
    if (e.data && e.data.type === 'hc:focus') $('w-input').focus();
  });
  if (root.dataset.question) send(root.dataset.question);
  $('w-input').focus();
})();
