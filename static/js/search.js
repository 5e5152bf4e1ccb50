// The search page: a new sort applies at once (the form's 搜索 button stays for browsers without JS).
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
})();
