/* helpcenter widget loader: <script src="https://help.example.com/widget.js" async></script>
   Options: data-locale (zh-Hans, zh-Hant, en), data-position (right, left), data-color (#rrggbb),
   data-question (asked when the panel opens). Host API: HelpCenter.open({query}), HelpCenter.close().
   Nothing is fetched before the button is clicked; the panel is an iframe of this site. */
(function () {
  'use strict';
  if (window.HelpCenter && window.HelpCenter.version) return;
  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var src = new URL(script.src, location.href);
  var origin = src.origin;
  var base = src.href.replace(/\/widget\.js([?#].*)?$/, '');
  var d = script.dataset;
  var lang = (d.locale || navigator.language || 'zh').toLowerCase();
  var hant = /^zh-(hant|tw|hk|mo)/.test(lang);
  var label = lang.indexOf('zh') === 0 ? (hant ? '幫助' : '帮助') : 'Help';
  var color = /^#[0-9a-f]{6}$/i.test(d.color || '') ? d.color : '#0b57d0';

  // White text needs 4.5:1 (WCAG AA): darken the colour until it has it.
  function lum(c) {
    return [1, 3, 5].reduce(function (s, i, k) {
      var v = parseInt(c.substr(i, 2), 16) / 255;
      v = v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      return s + v * [0.2126, 0.7152, 0.0722][k];
    }, 0);
  }
  function darker(c) {
    return '#' + [1, 3, 5].map(function (i) {
      return ('0' + Math.floor(parseInt(c.substr(i, 2), 16) * 0.92).toString(16)).slice(-2);
    }).join('');
  }
  var bg = color;
  for (var n = 0; n < 40 && 1.05 / (lum(bg) + 0.05) < 4.6; n++) bg = darker(bg);

  var side = d.position === 'left' ? 'left' : 'right';
  var hostEl = document.createElement('div');
  var root = hostEl.attachShadow({mode: 'open'});  // the host page's CSS cannot restyle the button
  root.innerHTML =
    '<style>' +
    ':host{all:initial}' +
    'button{position:fixed;bottom:20px;' + side + ':20px;z-index:2147483646;min-width:64px;min-height:48px;' +
    'padding:0 18px;border:0;border-radius:24px;background:' + bg + ';color:#fff;font:600 16px/1 system-ui,sans-serif;' +
    'box-shadow:0 2px 10px rgba(0,0,0,.25);cursor:pointer}' +
    'button:focus-visible{outline:3px solid #1a1a1a;outline-offset:2px}' +
    '.panel{position:fixed;bottom:80px;' + side + ':20px;z-index:2147483647;width:380px;height:600px;' +
    'max-width:calc(100vw - 24px);max-height:calc(100vh - 100px);border-radius:12px;overflow:hidden;' +
    'box-shadow:0 6px 30px rgba(0,0,0,.3);background:#fff}' +
    '@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-width:none;max-height:none;border-radius:0}}' +
    '.panel[hidden]{display:none}iframe{border:0;width:100%;height:100%}' +
    '</style>' +
    '<button type="button" aria-haspopup="dialog" aria-expanded="false"></button>' +
    '<div class="panel" role="dialog" aria-modal="true" hidden></div>';
  var button = root.querySelector('button');
  var panel = root.querySelector('.panel');
  button.textContent = label;
  panel.setAttribute('aria-label', label);
  var frame = null;

  function open(options) {
    var query = (options && options.query) || '';
    var loaded = !!frame;
    if (!frame) {
      frame = document.createElement('iframe');
      frame.title = label;
      var params = ['host=' + encodeURIComponent(location.origin)];
      if (d.locale) params.push('locale=' + encodeURIComponent(d.locale));
      if (d.color) params.push('color=' + encodeURIComponent(color));
      if (query || d.question) params.push('q=' + encodeURIComponent(query || d.question));
      frame.src = base + '/widget?' + params.join('&');
      frame.addEventListener('load', function () { frame.focus(); });
      panel.appendChild(frame);
    } else if (query) {
      frame.contentWindow.postMessage({type: 'hc:ask', query: query}, origin);
    }
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    frame.focus();
    if (loaded) frame.contentWindow.postMessage({type: 'hc:focus'}, origin);  // a new one focuses itself
  }
  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    button.focus();
  }
  button.addEventListener('click', function () { if (panel.hidden) open(); else close(); });
  window.addEventListener('message', function (e) {  // only from our own panel
    if (e.origin !== origin || !frame || e.source !== frame.contentWindow) return;
    if (e.data && e.data.type === 'hc:close') close();
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') close(); });
  window.HelpCenter = {open: open, close: close, version: 1};
  function attach() { document.body.appendChild(hostEl); }
  if (document.body) attach(); else document.addEventListener('DOMContentLoaded', attach);
})();
