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
    errorBox.textContent = '';
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
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
