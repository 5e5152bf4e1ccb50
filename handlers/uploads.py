"""Streamed uploads: the only routes that accept a large body, and only after the checks.

Every other route refuses a body over 64 KB before reading it (the HTTPServer's
``max_body_size``, see server.py). A handler built on :class:`StreamedUploadHandler`
raises its own connection's limit in ``prepare()``, after:

1. the session (BaseHandler.prepare) — an anonymous POST gets 403;
2. XSRF, when the token comes in the ``X-XSRFToken`` header (the upload script
   sends it) or the query string;
3. the subclass's :meth:`StreamedUploadHandler.authorize_upload` (e.g. "is this
   your listing?") — 404/403 before a single body byte is read;
4. the declared size: a Content-Length over :meth:`max_body_bytes` gets 413 at once.

A refusal in ``prepare()`` answers and closes the connection without reading
the body. Tornado runs its own XSRF check before ``prepare()``, when a streamed
body has not been read, so the form field could not be seen there: this
handler does that check itself (``check_xsrf_cookie`` is replaced below and
every path calls the real one before anything is written).

The no-JavaScript form posts ``multipart/form-data`` with the ``_xsrf`` field
first (``xsrf_form_html()`` is the form's first element, and browsers send
fields in document order). The body is parsed as it arrives with the
``multipart`` package's push parser (a small pure-Python sans-IO parser with
limits on header size, header count and segment count), so the ``_xsrf``
field is checked as soon as it is complete, and a file part that comes before
a valid token is refused (403) before a byte of it is stored. Why a streaming
parser rather than spooling the body and calling
``tornado.httputil.parse_body_arguments``: that function needs the whole body
in memory as one bytes object (and copies of each part), which is exactly
the memory this module exists to avoid; and XSRF could only be checked after
the whole body was on disk.

File parts are written, chunk by chunk, to files under the image store's
``.incoming`` folder (same disk as the media, never a RAM-backed /tmp), each
capped at ``images.max_bytes``; they are removed when the request ends,
whatever happens. A small urlencoded body (≤ 64 KB) is buffered and parsed as
usual, so a form posted without a file still gets its "choose a file" answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass

import multipart
import tornado.httputil
import tornado.web

from handlers.base import BaseHandler

log = logging.getLogger("ihome.uploads")

SMALL_BODY_BYTES = 64 * 1024
"""The body limit of every route that is not an upload (bytes); also the cap on an
upload request's non-file fields together."""
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room in an upload body for boundaries, part headers and the small form fields."""
MAX_FIELDS = 32
"""Form fields (not files) an upload request may carry."""
MAX_FILENAME = 200


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a streamed upload, already on disk.

    ``path`` is the temporary file (removed when the request ends), ``size`` its
    length in bytes, ``filename`` as the browser sent it (may be ""), cut to
    200 characters.
    """

    field: str
    filename: str
    path: str
    size: int
    content_type: str


class UploadRefused(Exception):
    """Why an upload body was not accepted; ``str()`` is a message for people."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@tornado.web.stream_request_body
class StreamedUploadHandler(BaseHandler):
    """Base of the upload routes (POST only): checks first, then the body, streamed to disk.

    Subclasses set :attr:`upload_field` and :attr:`max_files`, and implement
    :meth:`authorize_upload` (raise PageError), :meth:`handle_upload` (gets the
    stored :class:`UploadedFile` list; runs only after every check passed) and
    :meth:`refuse_upload` (renders a refusal for people).
    """

    upload_field = "file"
    max_files = 1

    _xsrf_pending = False
    _parser: multipart.PushMultipartParser | None = None
    _small_body: bytearray | None = None
    _refused: UploadRefused | None = None
    _sink = None

    # -- what subclasses provide -------------------------------------------
    async def authorize_upload(self, *args: str) -> None:
        """Raise PageError (404/403) when the current user may not upload here.

        Runs in ``prepare()``, before the body is read; *args* are the route's groups.
        """

    async def handle_upload(self, files: list[UploadedFile], *args: str) -> None:
        """Do the work with the stored *files* (possibly none) and answer."""
        raise NotImplementedError

    async def refuse_upload(self, message: str, status: int = 400) -> None:
        """Answer a refused upload with *status* and *message*."""
        raise tornado.web.HTTPError(status, message)

    def max_file_bytes(self) -> int:
        """The size limit of one file part, bytes (the image store's limit)."""
        return self.images.max_bytes

    def max_body_bytes(self) -> int:
        """The largest body this route reads: every file at its limit plus the form's overhead."""
        return self.max_files * self.max_file_bytes() + MULTIPART_OVERHEAD_BYTES

    # -- XSRF ----------------------------------------------------------------
    def check_xsrf_cookie(self) -> None:
        # Tornado calls this before prepare(), when no body byte has been read:
        # the real check is _verify_xsrf(), called from prepare(), from the
        # parser when the _xsrf field is complete, or before handle_upload().
        self._xsrf_pending = True

    def _verify_xsrf(self) -> None:
        """Tornado's own check (field, query or header against the cookie); HTTPError 403 on failure."""
        super().check_xsrf_cookie()
        self._xsrf_pending = False

    # -- request life cycle --------------------------------------------------
    async def prepare(self) -> None:
        await super().prepare()
        if self._finished or self.request.method != "POST":
            return
        headers = self.request.headers
        declared = _content_length(headers)
        # Until the checks pass, nothing here is read: a refusal closes the
        # connection. Raising Tornado's limit to the declared size keeps it
        # from answering a second time ("400") after ours.
        self.request.connection.set_max_body_size(max(self.max_body_bytes(), declared or 0))
        self._xsrf_pending = True
        if (headers.get("X-Xsrftoken") or headers.get("X-Csrftoken")
                or self.get_query_argument("_xsrf", None)):
            self._verify_xsrf()
        ctype, params = multipart.parse_options_header(headers.get("Content-Type", ""))
        is_multipart = ctype == "multipart/form-data" and params.get("boundary")
        if self._xsrf_pending and not is_multipart and (declared or 0) > SMALL_BODY_BYTES:
            self._verify_xsrf()  # no token outside the body, and the body is not one we read
        if self.current_user is None:
            raise tornado.web.HTTPError(403)  # what @authenticated answers a POST
        await self.authorize_upload(*self.path_args)
        if declared is not None and declared > self.max_body_bytes():
            await self._refuse_now(UploadRefused(
                f"上传内容过大（最多 {self.max_files} 个文件，每个不超过 {_mb(self.max_file_bytes())}）", 413))
            return
        if is_multipart:
            try:
                self._parser = multipart.PushMultipartParser(
                    params["boundary"], max_header_count=8, max_segment_count=self.max_files + MAX_FIELDS,
                    strict=False)
            except multipart.MultipartError:
                await self._refuse_now(UploadRefused("上传的数据格式不正确"))
                return
            self._files: list[UploadedFile] = []
            self._segment = None
            self._sink = None
            self._field_bytes = 0
        else:
            self.request.connection.set_max_body_size(SMALL_BODY_BYTES)
            self._small_body = bytearray()

    async def _refuse_now(self, refused: UploadRefused) -> None:
        self._refused = refused
        await self.refuse_upload(refused.message, refused.status)
        if not self._finished:
            self.finish()

    def data_received(self, chunk: bytes) -> None:
        if self._finished or self._refused is not None:
            return  # refused: the rest of the body is read and dropped
        if self._small_body is not None:
            if len(self._small_body) + len(chunk) > SMALL_BODY_BYTES:
                self._refused = UploadRefused("请求内容过大", 413)
                self._small_body = None
            else:
                self._small_body += chunk
            return
        try:
            for event in self._parser.parse(chunk):
                self._on_event(event)
        except tornado.web.HTTPError as exc:
            # A file before a valid _xsrf token: answer now, store nothing.
            self._discard_sink()
            self._refused = UploadRefused("XSRF", exc.status_code)
            self.send_error(exc.status_code, exc_info=(type(exc), exc, exc.__traceback__))
        except UploadRefused as exc:
            self._discard_sink()
            self._refused = exc
        except multipart.MultipartError:
            self._discard_sink()
            self._refused = UploadRefused("上传的数据格式不正确")

    def _on_event(self, event) -> None:
        if isinstance(event, multipart.MultipartSegment):
            self._segment = event
            if event.filename is None:
                if not event.name:
                    raise UploadRefused("上传的数据格式不正确")
                self._sink = bytearray()
                return
            if self._xsrf_pending:
                self._verify_xsrf()  # raises HTTPError(403): no file is stored before the token
            if event.name != self.upload_field:
                self._sink = None  # a file in a field we do not know: dropped
                return
            if len(self._files) >= self.max_files:
                raise UploadRefused(f"一次最多上传 {self.max_files} 个文件")
            fd, path = tempfile.mkstemp(prefix="up-", dir=self.images.incoming_dir())
            self._sink = os.fdopen(fd, "wb")
            self._sink_path = path
            self._sink_size = 0
            self._temp_paths.append(path)
            return
        segment = self._segment
        if event is None:  # the segment ended
            self._end_segment(segment)
            self._segment = None
            self._sink = None
            return
        if self._sink is None:
            return
        if isinstance(self._sink, bytearray):
            self._field_bytes += len(event)
            if self._field_bytes > SMALL_BODY_BYTES:
                raise UploadRefused("表单字段过长")
            self._sink += event
            return
        self._sink_size += len(event)
        if self._sink_size > self.max_file_bytes():
            name = _filename(segment) or "图片"
            raise UploadRefused(f"{name}：图片不能超过 {_mb(self.max_file_bytes())}")
        # A plain write on the loop: a 64 KB chunk into the page cache takes
        # microseconds; handing each to a thread would cost more than it saves.
        self._sink.write(event)

    def _end_segment(self, segment) -> None:
        sink = self._sink
        if isinstance(sink, bytearray):
            if sum(len(v) for v in self.request.body_arguments.values()) >= MAX_FIELDS:
                raise UploadRefused("表单字段过多")
            value = bytes(sink)
            self.request.body_arguments.setdefault(segment.name, []).append(value)
            self.request.arguments.setdefault(segment.name, []).append(value)
            if segment.name == "_xsrf" and self._xsrf_pending:
                self._verify_xsrf()
        elif sink is not None:
            sink.close()
            self._files.append(UploadedFile(
                field=segment.name, filename=_filename(segment), path=self._sink_path,
                size=self._sink_size, content_type=segment.content_type or ""))

    def _discard_sink(self) -> None:
        if self._sink is not None and not isinstance(self._sink, bytearray):
            with contextlib.suppress(OSError):
                self._sink.close()
        self._sink = None

    async def post(self, *args: str) -> None:
        if self._refused is not None:
            await self._refuse_now(self._refused)
            return
        files: list[UploadedFile] = []
        if self._small_body is not None:
            tornado.httputil.parse_body_arguments(
                self.request.headers.get("Content-Type", ""), bytes(self._small_body),
                self.request.body_arguments, self.request.files, self.request.headers)
            for name, values in self.request.body_arguments.items():
                self.request.arguments.setdefault(name, []).extend(values)
            self.request.files.clear()  # a buffered body never carries files here
        elif self._parser is not None:
            try:
                self._parser.close()
            except multipart.MultipartError:
                await self._refuse_now(UploadRefused("上传的数据不完整"))
                return
            files = self._files
        if self._xsrf_pending:
            self._verify_xsrf()
        await self.handle_upload(files, *args)

    # -- clean-up --------------------------------------------------------------
    @property
    def _temp_paths(self) -> list[str]:
        paths = self.__dict__.get("_temp_path_list")
        if paths is None:
            paths = self.__dict__["_temp_path_list"] = []
        return paths

    def _remove_temp_files(self) -> None:
        self._discard_sink()
        for path in self._temp_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._temp_paths.clear()

    def on_connection_close(self) -> None:
        self._remove_temp_files()
        super().on_connection_close()

    def on_finish(self) -> None:
        self._remove_temp_files()
        super().on_finish()


def _content_length(headers: tornado.httputil.HTTPHeaders) -> int | None:
    raw = headers.get("Content-Length")
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None  # Tornado itself refuses a malformed one
    return int(raw)


def _filename(segment) -> str:
    return (segment.filename or "")[:MAX_FILENAME]


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
