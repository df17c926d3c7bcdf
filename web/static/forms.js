// Small progress feedback for long actions, as a progressive enhancement (the pages work without
// it): a link or form marked data-busy="…" shows that text in the page's status region while the
// browser waits, and a form marked data-confirm="…" asks before it is sent.
(function () {
  'use strict';
  var status = document.getElementById('busy');
  function busy(text) {
    if (!status) {
      status = document.createElement('p');
      status.className = 'hint busy';
      status.setAttribute('role', 'status');
      var main = document.getElementById('main');
      if (main) main.insertBefore(status, main.firstChild.nextSibling);
    }
    status.textContent = text;
  }
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[data-busy]');
    if (a) busy(a.getAttribute('data-busy'));
  });
  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.hasAttribute('data-confirm') && !window.confirm(f.getAttribute('data-confirm'))) {
      e.preventDefault();
      return;
    }
    if (f.hasAttribute('data-busy')) {
      busy(f.getAttribute('data-busy'));
      var b = f.querySelector('button[type=submit]');
      if (b) b.disabled = true;
    }
  });
})();
