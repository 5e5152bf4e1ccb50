// 爱家 messaging client: one WebSocket (/ws) per tab, loaded on every page for members.
// - the header badge (#unread-badge) shows the unread total and follows it live;
// - on a thread page (#thread) new messages appear, Enter sends (Shift+Enter: new line), and
//   what is shown is marked read; without a socket the form posts as a normal form;
// - on the inbox (#inbox) the rows' unread counts and previews follow.
// Reconnects with back-off and catches up by the last message id it has (/ws?last_id=N).
// Text is always inserted with textContent, never as HTML. Protocol: README.md, "WebSocket 协议".
(function () {
  'use strict';
  if (!window.WebSocket) { return; }

  var badge = document.getElementById('unread-badge');
  var thread = document.getElementById('thread');
  var inbox = document.getElementById('inbox');
  var form = document.getElementById('message-form');
  var textarea = document.getElementById('message-body');
  var errorBox = document.getElementById('message-error');
  var state = document.getElementById('connection-state');
  var conversationId = thread ? parseInt(thread.getAttribute('data-conversation-id'), 10) : null;
  var userId = thread ? parseInt(thread.getAttribute('data-user-id'), 10) : null;
  var lastId = thread ? parseInt(thread.getAttribute('data-last-id'), 10) || 0 : 0;
  var socket = null;
  var delay = 1000;
  var stopped = false;
  var counter = 0;
  var pending = {};  // client_id -> the <li> shown while the message is on its way

  function setBadge(total) {
    if (!badge) { return; }
    badge.textContent = total > 99 ? '99+' : String(total);
    badge.hidden = !(total > 0);
  }

  function setState(connected) {
    if (state) { state.classList.toggle('d-none', connected); }
    document.documentElement.classList.toggle('ihome-reconnecting', !connected);
  }

  function timeText(iso) {
    return (iso || '').slice(0, 16).replace('T', ' ');
  }

  function bubble(li, text, time) {
    var body = document.createElement('div');
    body.className = 'bubble';
    body.textContent = text;
    var small = document.createElement('small');
    small.className = 'text-muted time';
    small.textContent = time;
    li.textContent = '';
    li.appendChild(body);
    li.appendChild(small);
  }

  function scrollDown() {
    if (thread) { thread.scrollTop = thread.scrollHeight; }
  }

  function markRead(messageId) {
    if (socket && socket.readyState === WebSocket.OPEN && document.visibilityState !== 'hidden') {
      socket.send(JSON.stringify({type: 'read', conversation_id: conversationId, message_id: messageId}));
    }
  }

  function showMessage(frame) {
    if (!thread || frame.conversation_id !== conversationId) { return; }
    if (document.getElementById('m' + frame.id)) { return; }
    var li = frame.client_id && pending[frame.client_id];
    if (li) { delete pending[frame.client_id]; } else { li = document.createElement('li'); thread.appendChild(li); }
    li.id = 'm' + frame.id;
    li.setAttribute('data-id', String(frame.id));
    var mine = frame.sender_id === userId;
    li.className = 'message mb-2 ' + (frame.kind === 'system' ? 'system' : (mine ? 'mine' : 'theirs'));
    bubble(li, frame.body, timeText(frame.created_at));
    var empty = document.getElementById('thread-empty');
    if (empty) { empty.remove(); }
    scrollDown();
    if (!mine) { markRead(frame.id); }
  }

  function updateInbox(frame) {
    if (!inbox) { return; }
    var row = inbox.querySelector('[data-conversation-id="' + frame.conversation_id + '"]');
    if (!row) { return; }
    if (frame.type === 'unread') {
      var count = row.querySelector('.unread-count');
      if (count) { count.textContent = String(frame.count); count.hidden = !(frame.count > 0); }
    } else {
      var preview = row.querySelector('.preview');
      if (preview) { preview.textContent = frame.body.length > 60 ? frame.body.slice(0, 60) + '…' : frame.body; }
      inbox.insertBefore(row, inbox.firstChild);
    }
  }

  function onFrame(event) {
    var frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (frame.type === 'message') {
      if (frame.id > lastId) { lastId = frame.id; }
      showMessage(frame);
      updateInbox(frame);
    } else if (frame.type === 'unread') {
      setBadge(frame.total);
      if (frame.conversation_id !== null) { updateInbox(frame); }
    } else if (frame.type === 'error') {
      var li = frame.client_id && pending[frame.client_id];
      if (li) {
        delete pending[frame.client_id];
        if (textarea && !textarea.value) { textarea.value = li.querySelector('.bubble').textContent; }
        li.remove();
      }
      if (errorBox && textarea) {
        errorBox.textContent = frame.message;
        textarea.classList.add('is-invalid');
      }
    }
  }

  function connect() {
    if (stopped) { return; }
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' +
      (lastId ? '?last_id=' + lastId : '');
    socket = new WebSocket(url);
    socket.onopen = function () {
      delay = 1000;
      setState(true);
      if (thread && lastId) { markRead(lastId); }
    };
    socket.onmessage = onFrame;
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 4401) { stopped = true; setState(true); return; }  // logged out: nothing to wait for
      setState(false);
      var wait = event.code === 4429 ? 60000 : delay;
      delay = Math.min(delay * 2, 30000);
      setTimeout(connect, wait * (0.75 + Math.random() * 0.5));
    };
  }

  if (form && textarea && thread) {
    form.addEventListener('submit', function (event) {
      if (!socket || socket.readyState !== WebSocket.OPEN) { return; }  // the normal POST
      event.preventDefault();
      var text = textarea.value.trim();
      if (!text) { return; }
      var clientId = 'c' + Date.now().toString(36) + '-' + (counter++);
      var li = document.createElement('li');
      li.className = 'message mb-2 mine pending';
      bubble(li, text, '发送中…');
      thread.appendChild(li);
      pending[clientId] = li;
      scrollDown();
      socket.send(JSON.stringify({type: 'send', conversation_id: conversationId, body: text, client_id: clientId}));
      textarea.value = '';
      textarea.classList.remove('is-invalid');
      if (errorBox) { errorBox.textContent = ''; }
    });
    textarea.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      }
    });
    scrollDown();
  }

  document.addEventListener('visibilitychange', function () {
    if (thread && document.visibilityState === 'visible' && lastId) { markRead(lastId); }
  });
  connect();
})();
