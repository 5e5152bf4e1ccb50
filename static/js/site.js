// Small page behaviours shared by every page.

// Words for scripts, in the page's language: the page renders them as a JSON data block
// ({% module Strings("name", key=_("…")) %}, handlers/ui_modules.py). ihomeStrings(name) is that
// object ({} when the page has none); ihomeFormat("{n} 晚", {n: 3}) fills {placeholders}.
window.ihomeStrings = function (name) {
  var block = document.getElementById('strings-' + name);
  if (!block) { return {}; }
  try { return JSON.parse(block.textContent) || {}; } catch (error) { return {}; }
};
window.ihomeFormat = function (text, values) {
  return String(text || '').replace(/\{(\w+)\}/g, function (whole, key) {
    return values && Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
  });
};

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
  // A carousel with data-autoplay="<ms>" rotates only with its 暂停 toggle shown (WCAG 2.2.2), and not at
  // all for people who asked their system for reduced motion (the toggle then stays hidden).
  Array.prototype.forEach.call(document.querySelectorAll('.carousel[data-autoplay]'), function (element) {
    var toggle = element.querySelector('.carousel-toggle');
    var reduce = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    if (!toggle || reduce || !window.bootstrap || !window.bootstrap.Carousel) { return; }
    var interval = parseInt(element.getAttribute('data-autoplay'), 10) || 6000;
    var carousel = window.bootstrap.Carousel.getOrCreateInstance(element, { interval: interval, ride: false, pause: 'hover' });
    var icon = toggle.querySelector('.bi'), label = toggle.querySelector('.visually-hidden');
    var paused = false;
    function show() {
      icon.className = 'bi ' + (paused ? 'bi-play-fill' : 'bi-pause-fill');
      label.textContent = paused ? '继续轮播' : '暂停轮播';
    }
    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      paused = !paused;
      show();
      if (paused) { carousel.pause(); } else { carousel.cycle(); }
    });
    // Keyboard users reading a slide are not rushed: focus inside pauses until it leaves.
    element.addEventListener('focusin', function () { carousel.pause(); });
    element.addEventListener('focusout', function (event) {
      if (!paused && !element.contains(event.relatedTarget)) { carousel.cycle(); }
    });
    show();
    carousel.cycle();
  });
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
