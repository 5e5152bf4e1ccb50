// The listing page's booking form: live price preview (nights × nightly price, in yuan),
// a warning when the chosen stay covers a booked night, picking dates on the calendar (clicks;
// calendar.js turns Enter/Space into the same click), the phone bar's stay total, opening the
// form after a refused booking, and the gallery's play/pause toggle.
// The server checks every rule again; this only helps the guest choose.
(function () {
  'use strict';
  galleryToggle();
  var sheet = document.getElementById('booking-sheet');
  // From here on Bootstrap's offcanvas opens the phone sheet (pages.css shows it by :target only without JS).
  if (sheet) { sheet.classList.add('js-sheet'); nameWhileOpen(sheet); }
  var box = document.getElementById('booking');
  var sd = document.getElementById('sd');
  var ed = document.getElementById('ed');
  if (!box || !sd || !ed) { return; }
  var priceFen = parseInt(box.dataset.priceFen, 10) || 0;
  var depositFen = parseInt(box.dataset.depositFen, 10) || 0;  // a separate, refundable hold
  var minDays = parseInt(box.dataset.minDays, 10) || 0;
  var maxDays = parseInt(box.dataset.maxDays, 10) || 0;  // 0 = no limit
  var preview = document.getElementById('price-preview');
  var barTotal = document.getElementById('bar-total');
  var clash = document.getElementById('booking-clash');
  var DAY = 86400000;

  // "YYYY-MM-DD" → days since the epoch (UTC, so daylight saving never shifts a day).
  function dayNumber(value) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) / DAY : null;
  }
  function isoDay(n) { return new Date(n * DAY).toISOString().slice(0, 10); }
  function yuan(fen) {
    return fen % 100 === 0 ? String(fen / 100) : (fen / 100).toFixed(2);
  }

  var booked = {};
  document.querySelectorAll('.calendar td.booked[data-date]').forEach(function (cell) {
    booked[cell.dataset.date] = true;
  });

  function show(html, cls) {
    preview.className = 'small mt-2 ' + (cls || '');
    preview.textContent = html;
  }

  function update(first) {
    var a = dayNumber(sd.value), b = dayNumber(ed.value);
    if (barTotal && !first) {
      var ok = a !== null && b !== null && b > a && !(minDays && b - a < minDays) && !(maxDays && b - a > maxDays);
      barTotal.textContent = ok ? (b - a) + ' 晚 · 应付 ¥' + yuan(priceFen * (b - a) + depositFen) : '';
    }
    // On load the server's breakdown (modules/price_breakdown.html) already describes these dates.
    var keep = first && preview.querySelector('.price-breakdown');
    // After a refused booking the server's message beside the field says it: no second copy here.
    var quiet = first && box.querySelector('.field-error');
    var warn = function (text) { show(quiet ? '' : text, 'text-danger'); };
    if (a !== null) { ed.min = isoDay(a + 1); }
    var taken = false;
    if (a === null || b === null) {
      show('选择日期后显示总价', 'text-muted');
    } else if (b <= a) {
      warn('离开日期须晚于入住日期');
    } else {
      var nights = b - a;
      for (var n = a; n < b; n++) { if (booked[isoDay(n)]) { taken = true; break; } }
      if (minDays && nights < minDays) {
        warn('该房源最少预订 ' + minDays + ' 晚');
      } else if (maxDays && nights > maxDays) {
        warn('该房源最多预订 ' + maxDays + ' 晚');
      } else if (!keep) {
        var subtotal = priceFen * nights;
        show('¥' + yuan(priceFen) + ' × ' + nights + ' 晚 = ¥' + yuan(subtotal) +
             (depositFen ? ' + 押金 ¥' + yuan(depositFen) + '（退房后退还）' : '') +
             ' · 应付 ¥' + yuan(subtotal + depositFen), 'fw-semibold price');
      }
    }
    if (clash) { clash.classList.toggle('d-none', !taken); }
    document.querySelectorAll('.calendar td[data-date]').forEach(function (cell) {
      var d = dayNumber(cell.dataset.date);
      cell.classList.toggle('picked', a !== null && (d === a || (b !== null && d > a && d < b)));
    });
  }

  // Click a day: the first click picks check-in (a free day), the second check-out
  // (which may be a booked day: stays are half-open, one may begin as another ends).
  document.querySelectorAll('.calendar td[data-date]:not(.past)').forEach(function (cell) {
    cell.addEventListener('click', function () {
      var d = dayNumber(cell.dataset.date), a = dayNumber(sd.value);
      if (a === null || ed.value || d <= a) {
        if (cell.classList.contains('booked')) { return; }
        sd.value = cell.dataset.date;
        ed.value = '';
      } else {
        ed.value = cell.dataset.date;
      }
      changed();
    });
  });

  // The server's messages (a refused booking) describe the dates it was sent: once the
  // guest changes a date they are stale, so they go and the live checks take over.
  var serverErrors = box.querySelectorAll('.field-error');
  function dropServerErrors() {
    serverErrors.forEach(function (el) { el.remove(); });
    serverErrors = [];
    sd.classList.remove('is-invalid');
    ed.classList.remove('is-invalid');
  }
  function changed() { dropServerErrors(); update(); }

  sd.addEventListener('change', changed);
  ed.addEventListener('change', changed);
  sd.addEventListener('input', changed);
  ed.addEventListener('input', changed);
  update(true);
  var summary = document.getElementById('booking-error-summary');
  if (serverErrors.length || summary) {
    // The server already said what is wrong; don't repeat it in other words.
    if (clash) { clash.classList.add('d-none'); }
    openAtForm(summary || box);
  }

  // A refused booking: on phones open the sheet, elsewhere bring the form into view; then focus
  // the error summary so its message is read first.
  function openAtForm(target) {
    var focus = function () {
      target.focus({ preventScroll: true });
      // The browser's own scroll to the URL's #booking (at load) may take the focus away again.
      window.addEventListener('load', function () {
        setTimeout(function () {
          if (document.activeElement !== target) { target.focus({ preventScroll: true }); }
        }, 0);
      }, { once: true });
    };
    var phone = window.matchMedia && window.matchMedia('(max-width: 767.98px)').matches;
    if (phone && sheet && window.bootstrap && window.bootstrap.Offcanvas) {
      sheet.addEventListener('shown.bs.offcanvas', focus, { once: true });
      window.bootstrap.Offcanvas.getOrCreateInstance(sheet).show();
    } else {
      box.scrollIntoView({ block: 'center' });
      focus();
    }
  }

  // Open, Bootstrap makes the sheet a dialog (role, aria-modal): a dialog is named by its title.
  // Closed (and from 768 px, where it is the card beside the content) it is a plain box, which takes no name.
  function nameWhileOpen(element) {
    element.addEventListener('show.bs.offcanvas', function () {
      element.setAttribute('aria-labelledby', element.getAttribute('data-sheet-title'));
    });
    element.addEventListener('hidden.bs.offcanvas', function () { element.removeAttribute('aria-labelledby'); });
  }

  // The gallery never rotates by itself; its toggle starts and pauses a slideshow (none at all for
  // people who asked their system for reduced motion).
  function galleryToggle() {
    var gallery = document.getElementById('gallery');
    var button = document.getElementById('gallery-play');
    if (!gallery || !button || !window.bootstrap || !window.bootstrap.Carousel) { return; }
    if (window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches) { return; }
    var carousel = window.bootstrap.Carousel.getOrCreateInstance(gallery, { interval: 5000, ride: false, pause: false });
    var icon = button.querySelector('.bi');
    button.hidden = false;
    button.addEventListener('click', function () {
      var playing = button.getAttribute('aria-pressed') !== 'true';
      button.setAttribute('aria-pressed', playing ? 'true' : 'false');
      icon.className = 'bi ' + (playing ? 'bi-pause-fill' : 'bi-play-fill');
      if (playing) { carousel.cycle(); } else { carousel.pause(); }
    });
  }
})();
