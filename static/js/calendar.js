// The listing page's availability calendar (templates/houses/calendar.html): a keyboard grid and,
// on phones, one month at a time. Arrow keys move between days (across months), Home/End to the
// week's ends, PageUp/PageDown a month back/on (the same day, or the month's last), Enter or Space picks the day exactly as a click does (booking.js fills sd/ed), and a
// polite live region says what was picked. Without this script the months are plain tables and the
// form's date fields still work.
(function () {
  'use strict';
  var section = document.getElementById('availability');
  if (!section) { return; }
  var months = Array.prototype.slice.call(section.querySelectorAll('.calendar-month'));
  var days = Array.prototype.slice.call(section.querySelectorAll('.calendar td[data-date]'));
  if (!months.length || !days.length) { return; }
  var status = document.getElementById('calendar-status');
  var pageTitle = document.getElementById('calendar-page-title');
  var steps = section.querySelectorAll('[data-calendar-step]');
  var sd = document.getElementById('sd');
  var ed = document.getElementById('ed');
  var current = 0;

  section.querySelectorAll('table.calendar').forEach(function (table) {
    table.setAttribute('role', 'grid');
    table.setAttribute('aria-describedby', 'calendar-help');
  });
  days.forEach(function (cell) { cell.tabIndex = -1; });

  function monthOf(cell) { return months.indexOf(cell.closest('.calendar-month')); }

  // Phones: only the current month is shown (CSS), the buttons step through them.
  function showMonth(index) {
    current = Math.max(0, Math.min(months.length - 1, index));
    months.forEach(function (m, i) { m.classList.toggle('current', i === current); });
    if (pageTitle) {
      var caption = months[current].querySelector('caption');
      pageTitle.textContent = (caption ? caption.textContent : '') + '（' + (current + 1) + '/' + months.length + '）';
    }
    steps.forEach(function (button) {
      var step = parseInt(button.getAttribute('data-calendar-step'), 10);
      button.disabled = current + step < 0 || current + step >= months.length;
    });
  }
  section.classList.add('calendar-paged');
  steps.forEach(function (button) {
    button.addEventListener('click', function () {
      showMonth(current + parseInt(button.getAttribute('data-calendar-step'), 10));
      // The roving tab stop follows the shown month, so Tab from the buttons lands in it.
      var first = months[current].querySelector('td[data-date]:not(.past)') || months[current].querySelector('td[data-date]');
      if (first) { setStop(first); }
    });
  });

  // One day at a time is in the tab order (a roving tabindex): the picked check-in, else the first day not past.
  var stop = null;
  function setStop(cell) {
    if (stop) { stop.tabIndex = -1; }
    stop = cell;
    cell.tabIndex = 0;
  }
  function moveTo(index) {
    var cell = days[Math.max(0, Math.min(days.length - 1, index))];
    setStop(cell);
    var m = monthOf(cell);
    if (m !== current) { showMonth(m); }
    cell.focus();
  }
  var start = (sd && sd.value && section.querySelector('td[data-date="' + sd.value + '"]')) ||
      section.querySelector('td[data-date]:not(.past)') || days[0];
  setStop(start);
  showMonth(monthOf(start));

  // aria-selected mirrors booking.js's .picked class (the chosen nights).
  function syncSelected() {
    days.forEach(function (cell) {
      cell.setAttribute('aria-selected', cell.classList.contains('picked') ? 'true' : 'false');
    });
  }
  syncSelected();
  if (window.MutationObserver) {
    new MutationObserver(syncSelected).observe(section, { subtree: true, attributes: true, attributeFilter: ['class'] });
  }

  function label(date) {
    var cell = section.querySelector('td[data-date="' + date + '"]');
    return cell ? cell.getAttribute('aria-label').replace(/\s*\S+$/, '') : date;
  }
  function announce(cell) {
    if (!status || !sd || !ed) { return; }
    if (cell.classList.contains('past')) {
      status.textContent = label(cell.dataset.date) + ' 已过，不能选择';
    } else if (sd.value && ed.value) {
      var nights = Math.round((Date.parse(ed.value) - Date.parse(sd.value)) / 86400000);
      status.textContent = '已选择 ' + label(sd.value) + ' 入住，' + label(ed.value) + ' 离开，共 ' + nights + ' 晚';
    } else if (sd.value === cell.dataset.date) {
      status.textContent = '入住 ' + label(sd.value) + '，请选择离开日期';
    } else {
      status.textContent = label(cell.dataset.date) + ' 已订满，不能入住';
    }
  }

  // The index of *cell*'s day of the month in the month *step* away (its last day when shorter);
  // the first or last day shown when that month is not in the calendar.
  function sameDayIndex(cell, step) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(cell.dataset.date);
    var month = +m[1] * 12 + (+m[2] - 1) + step;
    var year = Math.floor(month / 12), mon = month % 12 + 1;
    var last = new Date(Date.UTC(year, mon, 0)).getUTCDate();
    var day = Math.min(+m[3], last);
    var date = year + '-' + (mon < 10 ? '0' : '') + mon + '-' + (day < 10 ? '0' : '') + day;
    var target = section.querySelector('td[data-date="' + date + '"]');
    return target ? days.indexOf(target) : (step < 0 ? 0 : days.length - 1);
  }

  section.addEventListener('keydown', function (event) {
    var cell = event.target.closest && event.target.closest('td[data-date]');
    if (!cell) { return; }
    var i = days.indexOf(cell), weekday = (cell.cellIndex + 7) % 7;
    switch (event.key) {
      case 'ArrowLeft': moveTo(i - 1); break;
      case 'ArrowRight': moveTo(i + 1); break;
      case 'ArrowUp': moveTo(i - 7); break;
      case 'ArrowDown': moveTo(i + 7); break;
      case 'Home': moveTo(i - weekday); break;
      case 'End': moveTo(i + 6 - weekday); break;
      case 'PageUp': moveTo(sameDayIndex(cell, -1)); break;
      case 'PageDown': moveTo(sameDayIndex(cell, 1)); break;
      case 'Enter':
      case ' ':
        cell.click();  // booking.js picks check-in, then check-out
        announce(cell);
        break;
      default: return;
    }
    event.preventDefault();
  });
  section.addEventListener('click', function (event) {
    var cell = event.target.closest && event.target.closest('td[data-date]');
    if (cell) { setStop(cell); }
  });
})();
