"""The shipped deploy/nginx.conf, served by Debian's nginx for one test.

:func:`shipped_nginx` renders the file for a private run — free loopback ports,
a throw-away self-signed certificate, this checkout's static/ folder, the given
upstream and media folder — checks it with ``nginx -t`` and runs nginx as a child
process until the ``with`` block ends. ``scripts/services.sh`` installs nginx and
openssl for ``make test``; :data:`needs_nginx` skips where they are missing.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
OPENSSL = shutil.which("openssl")
HOST = "ihome.example.com"
BROTLI_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so"  # scripts/services.sh installs it

needs_nginx = pytest.mark.skipif(not (NGINX and OPENSSL), reason="nginx and openssl are not installed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def shipped_nginx(workdir: Path, upstream_port: int, media_dir: Path | None = None) -> Iterator[tuple[int, int]]:
    """Run deploy/nginx.conf in front of 127.0.0.1:*upstream_port*; yields (http port, https port).

    *workdir* (a fresh tmp_path) holds the rendered files, the certificate and
    nginx's logs; *media_dir*, when given, replaces the production media folder
    behind the internal /_media/ location. Fails the test when the rendered file
    does not pass ``nginx -t`` or nginx exits at start-up.
    """
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={HOST}", "-keyout", str(workdir / "privkey.pem"),
                    "-out", str(workdir / "fullchain.pem")], check=True, capture_output=True)
    http_port, https_port = free_port(), free_port()
    site = NGINX_CONF.read_text()
    replacements = [("listen 80;", f"listen 127.0.0.1:{http_port};"), ("listen [::]:80;", ""),
                    ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                    ("listen [::]:443 ssl http2;", ""), ("/etc/ssl/ihome/", f"{workdir}/")]
    if media_dir is not None:
        replacements.append(("/srv/ihome/var/media/", f"{media_dir}/"))
    replacements += [("/srv/ihome/", f"{ROOT}/"),
                     ("server 127.0.0.1:8001;", f"server 127.0.0.1:{upstream_port};"),
                     ("server 127.0.0.1:8002;", "")]
    for old, new in replacements:
        assert old in site, old
        site = site.replace(old, new)
    (workdir / "site.conf").write_text(site)
    logs = workdir / "logs"
    logs.mkdir()
    (workdir / "main.conf").write_text(
        f"load_module {BROTLI_MODULE};\n"
        f"daemon off;\nmaster_process off;\npid {workdir}/nginx.pid;\nerror_log {logs}/error.log;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n  include /etc/nginx/mime.types;\n"
        f"  include {workdir}/site.conf;\n}}\n")
    command = [NGINX, "-p", f"{workdir}/", "-c", str(workdir / "main.conf"), "-e", str(logs / "error.log")]
    check = subprocess.run(command + ["-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # up to ~10 s, bounded by attempts
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, (logs / "error.log").read_text()
                time.sleep(0.05)
        yield http_port, https_port
    finally:
        process.terminate()
        process.wait(10)
