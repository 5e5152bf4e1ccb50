// Photo upload with previews and a progress bar. The form still works without
// JavaScript (a plain multipart POST); with it, the upload goes through XHR so the
// progress can be shown, and the server answers JSON (Accept: application/json).
(function () {
  'use strict';
  var form = document.getElementById('upload-form');
  if (!form) return;
  var input = document.getElementById('image');
  var preview = document.getElementById('upload-preview');
  var progress = document.getElementById('upload-progress');
  var bar = progress.querySelector('.progress-bar');
  var errorBox = document.getElementById('upload-error');
  // The server's limits (handlers/houses.py, services/images.py); the form may state them
  // in data-max-files / data-max-bytes. Checked here too, so a too-big choice is refused
  // before megabytes are sent only to be refused.
  var maxFiles = parseInt(form.getAttribute('data-max-files'), 10) || 10;
  var maxBytes = parseInt(form.getAttribute('data-max-bytes'), 10) || 10 * 1024 * 1024;
  var tokenField = form.querySelector('input[name="_xsrf"]');

  function tooBig() {
    if (input.files.length > maxFiles) return '一次最多上传 ' + maxFiles + ' 张照片';
    for (var i = 0; i < input.files.length; i++) {
      if (input.files[i].size > maxBytes) {
        return input.files[i].name + '：图片不能超过 ' + Math.round(maxBytes / 1048576) + ' MB';
      }
    }
    return '';
  }

  input.addEventListener('change', function () {
    preview.innerHTML = '';
    Array.prototype.forEach.call(input.files, function (file) {
      var col = document.createElement('div');
      col.className = 'col';
      var img = document.createElement('img');
      img.className = 'img-fluid rounded border';
      img.alt = file.name;
      img.src = URL.createObjectURL(file);
      col.appendChild(img);
      preview.appendChild(col);
    });
  });

  form.addEventListener('submit', function (event) {
    if (!window.FormData || !input.files.length) return;
    event.preventDefault();
    errorBox.textContent = tooBig();
    if (errorBox.textContent) return;
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    // The server checks the token from this header before it reads the body (the
    // form's _xsrf field also comes first in FormData, which the no-JS form relies on).
    if (tokenField) xhr.setRequestHeader('X-XSRFToken', tokenField.value);
    progress.classList.remove('d-none');
    xhr.upload.addEventListener('progress', function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round(e.loaded * 100 / e.total);
      bar.style.width = pct + '%';
      bar.textContent = pct + '%';
      progress.setAttribute('aria-valuenow', pct);
    });
    xhr.addEventListener('load', function () {
      var data = {};
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 200 && data.ok) {
        window.location.reload();
      } else {
        progress.classList.add('d-none');
        errorBox.textContent = data.error || '上传失败（' + xhr.status + '）';
      }
    });
    xhr.addEventListener('error', function () {
      progress.classList.add('d-none');
      errorBox.textContent = '网络错误，上传失败';
    });
    xhr.send(new FormData(form));
  });
})();
