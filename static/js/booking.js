// The listing page's booking form: live price preview (nights × nightly price, in yuan),
// a warning when the chosen stay covers a booked night, and picking dates on the calendar.
// The server checks every rule again; this only helps the guest choose.
(function () {
  'use strict';
  var box = document.getElementById('booking');
  var sd = document.getElementById('sd');
  var ed = document.getElementById('ed');
  if (!box || !sd || !ed) { return; }
  var priceFen = parseInt(box.dataset.priceFen, 10) || 0;
  var depositFen = parseInt(box.dataset.depositFen, 10) || 0;  // a separate, refundable hold
  var minDays = parseInt(box.dataset.minDays, 10) || 0;
  var maxDays = parseInt(box.dataset.maxDays, 10) || 0;  // 0 = no limit
  var preview = document.getElementById('price-preview');
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
    // On load the server's breakdown (modules/price_breakdown.html) already describes these dates.
    var keep = first && preview.querySelector('.price-breakdown');
    if (a !== null) { ed.min = isoDay(a + 1); }
    var taken = false;
    if (a === null || b === null) {
      show('选择日期后显示总价', 'text-muted');
    } else if (b <= a) {
      show('离开日期须晚于入住日期', 'text-danger');
    } else {
      var nights = b - a;
      for (var n = a; n < b; n++) { if (booked[isoDay(n)]) { taken = true; break; } }
      if (minDays && nights < minDays) {
        show('该房源最少预订 ' + minDays + ' 晚', 'text-danger');
      } else if (maxDays && nights > maxDays) {
        show('该房源最多预订 ' + maxDays + ' 晚', 'text-danger');
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
  if (serverErrors.length) {
    // The server already said what is wrong; don't repeat it in other words.
    if (clash) { clash.classList.add('d-none'); }
    // On phones the booking card sits below the whole description: bring the message into view.
    box.scrollIntoView({ block: 'center' });
  }
})();
