"""deploy/nginx.conf as shipped: valid, HTTPS only, and the app's security headers on the files nginx serves.

The shipped file is rendered for a private run (ports on 127.0.0.1, a throw-away
self-signed certificate, the repository's static/ folder, a small upstream that
echoes the headers it receives) and served by Debian's nginx as a child process
of the test. Skipped when nginx or openssl is not installed (`apt-get install
nginx-light`).
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import ssl
import threading
from pathlib import Path

import pytest

from handlers.security import SECURITY_HEADERS
from tests.utils.nginx import HOST, NGINX_CONF, ROOT, needs_nginx, shipped_nginx

HEADERS_CONF = ROOT / "deploy" / "nginx-security-headers.conf"


def add_headers(conf: str) -> dict[str, str]:
    """The ``add_header Name "value" always;`` lines of an nginx file, by name."""
    found = {}
    for name, value in re.findall(r'^\s*add_header\s+(\S+)\s+"([^"]*)"\s+always;', conf, re.M):
        assert name not in found, name
        found[name] = value
    return found


def test_nginx_headers_match_the_app():
    headers = add_headers(HEADERS_CONF.read_text())
    app_headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Server"}  # nginx names itself
    assert {k: v for k, v in headers.items() if k != "Strict-Transport-Security"} == app_headers
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_every_location_of_the_https_server_keeps_hsts():
    # An add_header in a location drops the server's: each location either has none or includes the file.
    conf = NGINX_CONF.read_text()
    https = conf[conf.index("listen 443"):]
    for body in re.findall(r"location\s+\S+\s*\{(.*?)\n    \}", https, re.S):
        assert "add_header" not in body or "nginx-security-headers.conf" in body
        if "alias" in body:
            assert "include /srv/ihome/deploy/nginx-security-headers.conf;" in body, body
    assert "server_tokens off;" in conf
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", conf)


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """The upstream: answers every GET with the request headers it received, as JSON."""

    def do_GET(self):
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        # Reads the whole body, so a test can tell how much of it nginx let through.
        length = int(self.headers.get("Content-Length") or 0)
        received = len(self.rfile.read(length))
        body = json.dumps({"received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx(tmp_path):
    """The shipped config running on free loopback ports in front of an echo upstream: (http port, https port)."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        with shipped_nginx(tmp_path, upstream.server_port) as ports:
            yield ports
    finally:
        upstream.shutdown()
        upstream.server_close()


def https_get(port: int, path: str, *, max_version=None,
              headers: dict | None = None) -> tuple[http.client.HTTPResponse, bytes, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the throw-away self-signed certificate
    if max_version is not None:
        context.maximum_version = max_version
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    conn.request("GET", path, headers={"Host": HOST, **(headers or {})})
    response = conn.getresponse()
    body = response.read()
    version = conn.sock.version()
    conn.close()
    return response, body, version


@needs_nginx
def test_plain_http_redirects_to_https(nginx):
    http_port, _ = nginx
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    conn.request("GET", "/houses?area_id=1", headers={"Host": HOST})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}/houses?area_id=1"
    assert response.getheader("Server") == "nginx"  # no version
    conn.close()


@needs_nginx
def test_static_files_get_the_security_headers_over_https(nginx):
    _, https_port = nginx
    response, body, _ = https_get(https_port, "/static/css/site.css")
    assert response.status == 200 and b"--brand" in body
    for name, value in SECURITY_HEADERS.items():
        if name != "Server":
            assert response.getheader(name) == value, name
    assert response.getheader("Strict-Transport-Security").startswith("max-age=63072000")
    assert response.getheader("Server") == "nginx"


def test_text_is_gzipped_server_wide_and_static_files_cached_by_version():
    conf = NGINX_CONF.read_text()
    https = conf[conf.index("listen 443"):]
    server_level = https[:re.search(r"^\s*location ", https, re.M).start()]
    assert re.search(r"^\s*gzip on;", server_level, re.M) and "gzip_vary on;" in server_level
    assert "gzip_proxied any;" in server_level and re.search(r"gzip_min_length \d+;", server_level)
    types = re.search(r"gzip_types([^;]*);", server_level)[1].split()
    assert {"text/css", "application/javascript", "application/json", "image/svg+xml"} <= set(types)
    assert not any(t.startswith("image/") and t != "image/svg+xml" for t in types)  # pictures: no
    assert re.search(r"^\s*brotli on;", server_level, re.M)
    assert re.search(r"brotli_types([^;]*);", server_level)[1].split() == types  # the same text types
    assert "expires $ihome_static_expires;" in https
    assert re.search(r'map \$arg_v \$ihome_static_expires \{\s*""\s+1h;\s*default\s+1y;', conf)


@needs_nginx
def test_static_files_are_compressed_and_kept_a_year_when_versioned(nginx):
    _, https_port = nginx
    response, body, _ = https_get(https_port, "/static/vendor/bootstrap/css/bootstrap.min.css?v=abc",
                                  headers={"Accept-Encoding": "gzip"})
    assert response.status == 200 and response.getheader("Content-Encoding") == "gzip"
    assert response.getheader("Vary") == "Accept-Encoding"
    assert response.getheader("Cache-Control") == "max-age=31536000"
    assert len(body) < 60_000  # ~230 KB of CSS
    brotli, smaller, _ = https_get(https_port, "/static/vendor/bootstrap/css/bootstrap.min.css?v=abc",
                                   headers={"Accept-Encoding": "gzip, br"})
    assert brotli.status == 200 and brotli.getheader("Content-Encoding") == "br"
    assert len(smaller) < len(body)  # brotli beats gzip on text
    bare, _, _ = https_get(https_port, "/static/css/site.css")
    assert bare.getheader("Cache-Control") == "max-age=3600" and bare.getheader("Content-Encoding") is None


@needs_nginx
def test_the_app_is_told_the_request_was_https(nginx):
    _, https_port = nginx
    # Whatever the client claims, nginx states the scheme it really used.
    response, body, _ = https_get(https_port, "/houses", headers={"X-Forwarded-Proto": "http", "X-Scheme": "http"})
    assert response.status == 200
    received = {k.lower(): v for k, v in json.loads(body).items()}
    assert received["x-forwarded-proto"] == "https"
    assert received["x-scheme"] == "https"
    assert received["x-real-ip"] == "127.0.0.1"
    assert response.getheader("Strict-Transport-Security").startswith("max-age=63072000")


@needs_nginx
def test_tls_12_and_13_are_offered(nginx):
    _, https_port = nginx
    assert https_get(https_port, "/static/css/site.css")[2] == "TLSv1.3"
    assert https_get(https_port, "/static/css/site.css", max_version=ssl.TLSVersion.TLSv1_2)[2] == "TLSv1.2"


def https_post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the throw-away self-signed certificate
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Host": HOST, "Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@needs_nginx
def test_only_upload_routes_take_large_bodies_through_nginx(nginx):
    _, https_port = nginx
    body = b"x" * (2 * 1024 * 1024)
    # Outside the upload routes nginx refuses anything over 64 KB, as the app does.
    assert https_post(https_port, "/login", body)[0] == 413
    assert https_post(https_port, "/houses/1/edit", b"x" * (65 * 1024))[0] == 413
    assert https_post(https_port, "/login", b"x" * 1024)[0] == 200
    # The photo and avatar routes pass large bodies on, unbuffered, for the app to check.
    for path in ("/houses/1/images", "/profile/avatar"):
        status, answer = https_post(https_port, path, body)
        assert status == 200, path
        assert json.loads(answer) == {"received": len(body)}, path


def _prodlocal():
    """deploy/prodlocal.py (a script, not a package) as a module."""
    import importlib.util
    import sys

    if "ihome_prodlocal" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ihome_prodlocal", ROOT / "deploy" / "prodlocal.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclass looks itself up there
        spec.loader.exec_module(module)
    return sys.modules["ihome_prodlocal"]


def _locations(conf: str) -> dict[str, str]:
    """Each ``location … {`` of *conf* with its body, by its match expression."""
    return {m.group(1).strip(): m.group(2)
            for m in re.finditer(r"^    location\s+([^{]+)\{(.*?)\n    \}", conf, re.S | re.M)}


def test_prod_local_keeps_every_location_and_header_of_the_https_server(tmp_path):
    prodlocal = _prodlocal()
    shipped = NGINX_CONF.read_text()
    site = prodlocal.render_site(shipped, root=Path("/checkout"), media_dir=Path("/data/media"), port=9080,
                                 app_ports=[9101, 9102, 9103], down=frozenset({9102}))
    https = shipped[shipped.index("listen 443"):]
    shipped_locations = _locations(https)
    assert {"/static/", "/media/", "/_media/", "= /ws", "/"} <= set(shipped_locations)

    def local(body: str) -> str:
        return body.replace("/srv/ihome/var/media/", "/data/media/").replace("/srv/ihome/", "/checkout/")
    assert _locations(site) == {k: local(v) for k, v in shipped_locations.items()}
    # Server-wide settings (retries, body limit, HSTS) stay; only TLS and the port-80 redirect go.
    for line in ("proxy_next_upstream error timeout http_502;", "client_max_body_size 64k;",
                 'add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;',
                 "server_tokens off;", "keepalive 32;", "least_conn;"):
        assert line in site, line
    assert re.findall(r"^\s*listen (.*);", site, re.M) == ["127.0.0.1:9080"]
    assert not re.search(r"^\s*(ssl_|return 301)", site, re.M)
    upstreams = re.findall(r"^    server (.*);$", site, re.M)
    assert upstreams == ["127.0.0.1:9101", "127.0.0.1:9102 down", "127.0.0.1:9103"]


def test_prod_local_supervisor_runs_one_process_per_port(tmp_path):
    prodlocal = _prodlocal()
    stack = prodlocal.stack_from_env({"IHOME_PROD_DIR": str(tmp_path), "IHOME_PROCESSES": "3",
                                      "IHOME_PROD_APP_PORT": "9101"})
    conf = prodlocal.render_supervisor((ROOT / "deploy" / "supervisor.conf").read_text(), stack, python="/venv/python")
    assert "numprocs = 3\n" in conf and "numprocs_start = 9101\n" in conf
    assert "command = /venv/python server.py --port=%(process_num)d --address=127.0.0.1 --xheaders" in conf
    assert f"file = {tmp_path}/supervisor.sock" in conf and f"serverurl = unix://{tmp_path}/supervisor.sock" in conf
    assert f'IHOME_MEDIA_DIR="{tmp_path}/media"' in conf and 'IHOME_ENV="production"' in conf
    assert "/srv/ihome" not in conf and "/var/log" not in conf
    assert stack.app_ports == [9101, 9102, 9103]


def test_prod_local_settings_are_checked():
    prodlocal = _prodlocal()
    for bad in ({"IHOME_PROCESSES": "0"}, {"IHOME_PROD_PORT": "http"}, {"IHOME_PROD_SEED": "lots"}):
        with pytest.raises(prodlocal.ProdError):
            prodlocal.stack_from_env(bad)
