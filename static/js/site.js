// Small page behaviours shared by every page.
(function () {
  'use strict';
  // Click the captcha to get a new picture (same id: the new answer replaces the old one).
  var captcha = document.getElementById('captcha-img');
  if (captcha) {
    captcha.addEventListener('click', function () {
      captcha.src = captcha.src.split('?')[0] + '?t=' + Date.now();
    });
  }
  // Check-out can never be before check-in in date pickers.
  var sd = document.getElementById('sd'), ed = document.getElementById('ed');
  if (sd && ed) {
    var today = new Date().toISOString().slice(0, 10);
    sd.min = today;
    sd.addEventListener('change', function () { ed.min = sd.value; });
  }
  // Forms that need a second thought carry data-confirm="question" (no inline onsubmit:
  // the Content-Security-Policy runs no inline script).
  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
