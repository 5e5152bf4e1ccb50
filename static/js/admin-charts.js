// The admin dashboard's charts, drawn with the vendored Chart.js from the JSON
// block #chart-data that the server renders (handlers/admin.AdminDashboardHandler).
(function () {
  'use strict';
  var source = document.getElementById('chart-data');
  if (!source || typeof Chart === 'undefined') {
    return;
  }
  var data = JSON.parse(source.textContent);
  var brand = '#e4572e';
  var palette = ['#f3a712', '#0d6efd', '#198754', '#6c757d', '#e4572e', '#6f42c1', '#20c997', '#dc3545'];

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) {
      // Kept on the element so the browser tests (and developers) can read what was drawn.
      canvas.chart = new Chart(canvas, config);
    }
  }

  var daily = data.daily;
  draw('chart-daily', {
    type: 'line',
    data: {
      labels: daily.days.map(function (day) { return day.slice(5); }),
      datasets: [
        { label: '新用户', data: daily.users, borderColor: '#0d6efd', backgroundColor: '#0d6efd', tension: 0 },
        { label: '新房源', data: daily.houses, borderColor: brand, backgroundColor: brand, tension: 0 },
        { label: '新订单', data: daily.orders, borderColor: '#198754', backgroundColor: '#198754', tension: 0 }
      ]
    },
    options: {
      interaction: { mode: 'index', intersect: false },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
    }
  });

  draw('chart-areas', {
    type: 'bar',
    data: {
      labels: data.areas.labels,
      datasets: [{ label: '房源数', data: data.areas.counts, backgroundColor: brand }]
    },
    options: {
      indexAxis: 'y',
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }
    }
  });

  draw('chart-orders', {
    type: 'doughnut',
    data: {
      labels: data.orders.labels,
      datasets: [{ data: data.orders.counts, backgroundColor: palette.slice(0, data.orders.counts.length) }]
    },
    options: { plugins: { legend: { position: 'bottom' } } }
  });
})();
