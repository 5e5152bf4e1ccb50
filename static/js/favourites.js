// 爱家 收藏 (favourites) and 分享 (share) on listing cards and the listing page.
// Pages with cards are cached as an anonymous visitor sees them and shared with members, so every
// heart arrives un-pressed as a plain form to the login page. For a member (the header has
// #user-menu) this script asks once which of the page's listings they saved
// (GET /my/favourites/ids?ids=…), marks those hearts, and toggles with fetch
// (POST /houses/<id>/favourite | unfavourite, JSON) updating every heart and count of that listing
// in place. For a visitor (the script is loaded for them on the listing page only) it makes the
// login form come back to this page.
// On the listing page it also fills in the count of savers when the page did not carry it, and
// runs the 分享 box: the absolute link, a copy button (clipboard, or the selected read-only field).
(function () {
  'use strict';
  if (window.ihomeFavourites) { return; }  // loaded by the header and by the listing page
  window.ihomeFavourites = true;

  var member = !!document.getElementById('user-menu');
  var live = null;

  function say(text) {
    if (!live) {
      live = document.createElement('div');
      live.className = 'visually-hidden';
      live.setAttribute('role', 'status');
      live.setAttribute('aria-live', 'polite');
      document.body.appendChild(live);
    }
    live.textContent = text;
  }

  function token() {
    var field = document.querySelector('input[name="_xsrf"]');
    if (field) { return field.value; }
    var match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  function forms(houseId) {
    return document.querySelectorAll('form.fav-form[data-fav-house="' + houseId + '"]');
  }

  function setState(houseId, saved, count) {
    forms(houseId).forEach(function (form) {
      var button = form.querySelector('.fav-btn');
      var icon = button && button.querySelector('.bi');
      var label = form.querySelector('.fav-label');
      if (button) { button.setAttribute('aria-pressed', saved ? 'true' : 'false'); }
      if (icon) {
        icon.classList.toggle('bi-heart', !saved);
        icon.classList.toggle('bi-heart-fill', saved);
        icon.classList.toggle('text-danger', saved);
      }
      if (label) { label.textContent = saved ? '取消收藏' : '收藏'; }
      if (form.method === 'post') {
        form.action = '/houses/' + houseId + (saved ? '/unfavourite' : '/favourite');
      }
    });
    if (typeof count === 'number') {
      document.querySelectorAll('[data-fav-count="' + houseId + '"]').forEach(function (el) {
        el.textContent = String(count);
        var wrap = el.closest('.fav-count-text');
        if (wrap) { wrap.hidden = false; }
      });
    }
  }

  function getJSON(url) {
    return fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  function toggle(form) {
    var houseId = form.getAttribute('data-fav-house');
    var button = form.querySelector('.fav-btn');
    var saved = button && button.getAttribute('aria-pressed') === 'true';
    var body = new URLSearchParams();
    body.set('_xsrf', token());
    body.set('next', location.pathname + location.search);
    if (button) { button.disabled = true; }
    fetch('/houses/' + houseId + (saved ? '/unfavourite' : '/favourite'), {
      method: 'POST', credentials: 'same-origin', body: body,
      headers: {'Accept': 'application/json', 'X-Requested-With': 'XMLHttpRequest'}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 401 && data.login) { location.href = data.login; return; }
        if (!response.ok) { window.alert(data.error || '操作失败，请稍后再试'); return; }
        setState(houseId, data.saved, data.count);
        say(data.saved ? '已收藏' : '已取消收藏');
      });
    }).catch(function () {
      window.alert('网络连接失败，请稍后再试');
    }).then(function () {
      if (button) { button.disabled = false; }
    });
  }

  var all = document.querySelectorAll('form.fav-form');
  if (member) {
    document.addEventListener('submit', function (event) {
      var form = event.target.closest && event.target.closest('form.fav-form');
      if (!form) { return; }
      event.preventDefault();
      toggle(form);
    });
    var ids = [];
    all.forEach(function (form) {
      var id = form.getAttribute('data-fav-house');
      if (id && ids.indexOf(id) < 0 && ids.length < 100) { ids.push(id); }
    });
    if (ids.length) {
      getJSON('/my/favourites/ids?ids=' + ids.join(',')).then(function (data) {
        if (!data) { return; }
        data.ids.forEach(function (id) { setState(String(id), true); });
      });
    }
  } else {
    // The login form brings the visitor back to the page they were on.
    all.forEach(function (form) {
      var next = form.querySelector('input[name="next"]');
      if (next && form.method === 'get') { next.value = location.pathname + location.search; }
    });
  }

  var actions = document.getElementById('listing-actions');
  if (actions && !actions.hasAttribute('data-fav-known')) {
    var houseId = actions.getAttribute('data-house-id');
    getJSON('/houses/' + houseId + '/favourite').then(function (data) {
      if (data) { setState(houseId, data.saved, data.count); }
    });
  }

  // 分享: the absolute link (the page may carry only the path), copied or selected.
  var field = document.getElementById('share-url');
  var copy = document.getElementById('share-copy');
  var status = document.getElementById('share-status');
  if (field) {
    if (field.value.charAt(0) === '/') { field.value = new URL(field.value, location.href).href; }
    field.addEventListener('focus', function () { field.select(); });
  }
  if (field && copy) {
    copy.hidden = false;
    copy.addEventListener('click', function () {
      function fallback() {
        field.focus();
        field.select();
        if (status) { status.textContent = '请按 Ctrl+C（手机上长按）复制已选中的链接'; }
      }
      if (!navigator.clipboard || !window.isSecureContext) { fallback(); return; }
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) { status.textContent = '链接已复制'; }
      }, fallback);
    });
  }
}());
