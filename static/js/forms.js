// A refused form, shown again by the server, says what to fix: on load, focus moves to its error summary
// (templates/modules/error_summary.html) or, without one, to its first invalid field or its form-level
// message, so keyboard and screen-reader users start where the problem is. The summary's links focus
// their field (a plain #fragment only scrolls). Forms marked data-own-focus (the booking form: booking.js
// opens the phone sheet first) are left alone.
(function () {
  'use strict';

  function free(element) {
    return !element.closest('[data-own-focus], #booking-form');
  }

  function first(selector) {
    var found = document.querySelectorAll(selector);
    for (var i = 0; i < found.length; i++) {
      if (free(found[i])) { return found[i]; }
    }
    return null;
  }

  function focusField(id) {
    var field = document.getElementById(id);
    if (!field) { return false; }
    field.focus();
    if (field.scrollIntoView) { field.scrollIntoView({block: 'center'}); }
    return true;
  }

  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('.error-summary a[data-focus]');
    if (link && focusField(link.getAttribute('data-focus'))) {
      event.preventDefault();
    }
  });

  var target = first('[data-error-summary]') || first('.form-error[role="alert"]') || first('[aria-invalid="true"]');
  if (!target) { return; }
  if (!target.matches('input, select, textarea, button, a[href]') && !target.hasAttribute('tabindex')) {
    target.setAttribute('tabindex', '-1');
  }
  target.focus();
})();
