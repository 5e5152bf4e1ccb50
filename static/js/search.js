// The search page: a new sort applies at once (the form's 搜索 button stays for browsers without JS),
// and below 992 px the filter sheet opens by itself when a filter needs fixing.
(function () {
  'use strict';
  var selects = document.querySelectorAll('select[data-autosubmit]');
  Array.prototype.forEach.call(selects, function (select) {
    select.addEventListener('change', function () {
      var form = select.form;
      if (!form) { return; }
      // requestSubmit runs the form's validation and submit listeners like a click would.
      if (typeof form.requestSubmit === 'function') { form.requestSubmit(); } else { form.submit(); }
    });
  });

  var sheet = document.getElementById('search-filters');
  if (!sheet) { return; }
  sheet.classList.add('js-sheet');  // Bootstrap's offcanvas opens it now (pages.css: :target only without JS)
  // Open, Bootstrap makes the sheet a dialog (role, aria-modal): a dialog is named by its title.
  // Closed (and from 992 px, where it is the side column) it is a plain box, which takes no name.
  sheet.addEventListener('show.bs.offcanvas', function () {
    sheet.setAttribute('aria-labelledby', sheet.getAttribute('data-sheet-title'));
  });
  sheet.addEventListener('hidden.bs.offcanvas', function () { sheet.removeAttribute('aria-labelledby'); });
  var narrow = window.matchMedia && window.matchMedia('(max-width: 991.98px)').matches;
  if (narrow && document.getElementById('search-errors') && window.bootstrap && window.bootstrap.Offcanvas) {
    sheet.addEventListener('shown.bs.offcanvas', function () {
      var first = sheet.querySelector('[aria-invalid="true"]');
      if (first) { first.focus(); }
    }, { once: true });
    window.bootstrap.Offcanvas.getOrCreateInstance(sheet).show();
  }
})();
