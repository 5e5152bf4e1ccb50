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
})();
