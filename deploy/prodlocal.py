"""A production-shaped 爱家 on this machine: nginx in front of N app processes under supervisord.

    .venv/bin/python deploy/prodlocal.py start | stop | reload | status [--json]

Normally run through ``scripts/prod.sh`` (``make prod-local``, ``make prod-stop``,
``make prod-reload``), which first installs Debian's nginx and supervisor when they
are missing and starts the local MariaDB and Redis.

``start`` renders the shipped ``deploy/nginx.conf`` and ``deploy/supervisor.conf`` for
this checkout into the state directory (default ``var/prod/``): the same locations and
headers, but plain HTTP on 127.0.0.1 (no certificate to trust, and the benchmark
measures the app, not TLS) and one upstream line per process. It keeps a generated
cookie secret and data key there (mode 0600, reused by later starts), migrates and
seeds the database, starts supervisord (its own config and socket in the state
directory) with ``IHOME_ENV=production``, waits for every process's ``/healthz``, then
starts nginx with a private prefix and waits for ``/healthz`` through it.

``reload`` restarts the processes one at a time without dropping a request: nginx is
first reloaded with that process marked ``down`` (nginx's reload is graceful), the
process is restarted (SIGTERM drain, then a new one), and once its ``/healthz`` answers
nginx is reloaded with it back in. ``stop`` stops nginx (gracefully), then supervisord
and its processes (SIGTERM drain).

Environment (read by ``start``; ``stop``, ``reload`` and ``status`` use what ``start``
recorded in ``state.json``):

    IHOME_PROD_DIR        state directory                    var/prod
    IHOME_PROD_PORT       nginx port on 127.0.0.1            8080
    IHOME_PROCESSES       app processes                      number of cores
    IHOME_PROD_APP_PORT   first app port (then +1, +2, …)    8001
    IHOME_PROD_MYSQL_URL  database                           …@127.0.0.1:3307/ihome_prod_local
    IHOME_PROD_REDIS_URL  Redis database                     redis://127.0.0.1:6380/31
    IHOME_PROD_MEDIA_DIR  uploaded pictures                  <state directory>/media
    IHOME_PROD_SEED       demo | plain | none                demo
    IHOME_PROD_NGINX_WORKERS  nginx worker processes         1

Other ``IHOME_…`` variables (timeouts, limits, the IP-location provider) reach the app
processes unchanged. Exits 1 with a message when something does not come up, after
stopping whatever it had started.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_NGINX = ROOT / "deploy" / "nginx.conf"
SHIPPED_SUPERVISOR = ROOT / "deploy" / "supervisor.conf"
PROGRAM = "ihome"  # the [program:ihome] section of deploy/supervisor.conf
DEFAULT_MYSQL_URL = "mysql://ihome:ihome-local@127.0.0.1:3307/ihome_prod_local"
# Not 0 (`make run`) and above the test suite's (1 + worker) and the benchmarks' scratch dbs.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6380/31"
SEEDS = {"demo": ["--demo"], "plain": ["--no-demo"], "none": None}
START_TIMEOUT = 60.0  # seconds for a process (or nginx) to answer /healthz


class ProdError(Exception):
    """Something did not start, stop or render; the message says what and where to look."""


@dataclass
class Stack:
    """Where and how one prod-local stack runs; saved as ``<dir>/state.json`` by ``start``."""

    dir: str
    port: int
    processes: int
    app_port: int
    mysql_url: str
    redis_url: str
    media_dir: str
    seed: str
    nginx_workers: int

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def app_ports(self) -> list[int]:
        return [self.app_port + i for i in range(self.processes)]

    @property
    def supervisor_conf(self) -> Path:
        return self.path / "supervisord.conf"

    @property
    def nginx_conf(self) -> Path:
        return self.path / "nginx" / "nginx.conf"

    @property
    def site_conf(self) -> Path:
        return self.path / "nginx" / "site.conf"

    @property
    def logs(self) -> Path:
        return self.path / "logs"


def _int_env(environ, name: str, default: int, low: int = 1, high: int = 65535) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ProdError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ProdError(f"{name} must be between {low} and {high}, got {value}")
    return value


def stack_from_env(environ=None) -> Stack:
    """The stack described by the ``IHOME_PROD_…`` / ``IHOME_PROCESSES`` variables (ProdError if malformed)."""
    environ = os.environ if environ is None else environ
    state_dir = Path(environ.get("IHOME_PROD_DIR") or ROOT / "var" / "prod").resolve()
    seed = environ.get("IHOME_PROD_SEED", "demo")
    if seed not in SEEDS:
        raise ProdError(f"IHOME_PROD_SEED must be one of {', '.join(SEEDS)}, got {seed!r}")
    processes = _int_env(environ, "IHOME_PROCESSES", os.cpu_count() or 1, high=64)
    app_port = _int_env(environ, "IHOME_PROD_APP_PORT", 8001, low=1024, high=65535 - processes)
    return Stack(
        dir=str(state_dir),
        port=_int_env(environ, "IHOME_PROD_PORT", 8080),
        processes=processes,
        app_port=app_port,
        mysql_url=environ.get("IHOME_PROD_MYSQL_URL") or DEFAULT_MYSQL_URL,
        redis_url=environ.get("IHOME_PROD_REDIS_URL") or DEFAULT_REDIS_URL,
        media_dir=str(Path(environ.get("IHOME_PROD_MEDIA_DIR") or state_dir / "media").resolve()),
        seed=seed,
        nginx_workers=_int_env(environ, "IHOME_PROD_NGINX_WORKERS", 1, high=64),
    )


def load_stack(environ=None) -> Stack | None:
    """The stack ``start`` recorded in IHOME_PROD_DIR (default var/prod), or None when there is none."""
    environ = os.environ if environ is None else environ
    state_dir = Path(environ.get("IHOME_PROD_DIR") or ROOT / "var" / "prod").resolve()
    try:
        return Stack(**json.loads((state_dir / "state.json").read_text()))
    except FileNotFoundError:
        return None


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write *text* to *path* through a temporary name, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def _replace_once(text: str, old: str, new: str) -> str:
    """*text* with the one occurrence of *old* replaced; ProdError when deploy/ no longer has it."""
    if text.count(old) != 1:
        raise ProdError(f"the shipped deploy file changed: expected {old!r} exactly once")
    return text.replace(old, new)


# --- rendering -------------------------------------------------------------------------------

def render_site(shipped: str, *, root: Path, media_dir: Path, port: int, app_ports: list[int],
                down: frozenset[int] = frozenset()) -> str:
    """deploy/nginx.conf for a loopback run: plain HTTP on 127.0.0.1:*port*, one upstream per app port.

    Every location and header of the HTTPS server is kept as shipped; only the
    port-80 redirect server and the certificate/TLS lines go (HSTS stays: browsers
    ignore it over plain HTTP). Ports in *down* are marked ``down`` (taken out of
    rotation). Raises ProdError when the shipped file no longer has what is replaced.
    """
    text = shipped
    # The port-80 server (ACME and the redirect to HTTPS) has no use on loopback.
    text, n = re.subn(r"\n# Plain HTTP:[^\n]*\nserver \{.*?\n\}\n", "\n", text, flags=re.S)
    if n != 1:
        raise ProdError("the shipped deploy/nginx.conf changed: no single port-80 server block")
    lines = re.findall(r"^    server 127\.0\.0\.1:\d+( [^;]*)?;\n", text, re.M)
    if not lines:
        raise ProdError("the shipped deploy/nginx.conf changed: no upstream server lines")
    params = lines[0] or ""
    upstreams = "".join(f"    server 127.0.0.1:{p}{params}{' down' if p in down else ''};\n" for p in app_ports)
    text = re.sub(r"^    server 127\.0\.0\.1:\d+( [^;]*)?;\n", "\0", text, flags=re.M)
    text = re.sub("\0+", lambda _: upstreams, text)
    text = _replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    text = _replace_once(text, "    listen [::]:443 ssl http2;\n", "")
    # Certificate and TLS settings (and the comments about them) only mean something with TLS.
    text = re.sub(r"^\s*(ssl_\w+ .*|# (nginx ≥ 1\.25\.1 prefers|TLS 1\.2 and 1\.3 only|With a CA-issued)[^\n]*)\n",
                  "", text, flags=re.M)
    if "ssl" in re.sub(r"#.*", "", text):
        raise ProdError("the shipped deploy/nginx.conf changed: TLS lines left after rendering")
    text = text.replace("/srv/ihome/var/media/", f"{media_dir}/")
    text = text.replace("/srv/ihome/", f"{root}/")
    header = (f"# Rendered by deploy/prodlocal.py from deploy/nginx.conf for {root}: plain HTTP on\n"
              f"# 127.0.0.1:{port}, {len(app_ports)} app process(es). Edit deploy/nginx.conf, not this file.\n")
    return header + text


BROTLI_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so"
"""Debian's brotli filter for its nginx (libnginx-mod-http-brotli-filter)."""


def render_nginx_main(stack: Stack, *, user: str | None) -> str:
    """The top-level nginx.conf of a private nginx (pid, logs and temp files under the state directory)."""
    d = stack.path
    temp = "\n".join(f"    {kind}_temp_path {d}/nginx/tmp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# Rendered by deploy/prodlocal.py. Edit deploy/prodlocal.py or deploy/nginx.conf, not this file.
{f'user {user};' if user else '# (not root: the workers run as the starting user)'}
# deploy/nginx.conf compresses with brotli (Debian's module, installed by scripts/prod.sh).
load_module {BROTLI_MODULE};
worker_processes {stack.nginx_workers};
pid {d}/nginx.pid;
error_log {stack.logs}/nginx-error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
{temp}
    # $upstream_addr names the process(es) that answered: two when nginx retried on another.
    log_format ihome '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                     'upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';
    access_log {stack.logs}/access.log ihome buffer=32k flush=1s;
    include {stack.site_conf};
}}
"""


def render_supervisor(shipped: str, stack: Stack, *, python: str) -> str:
    """supervisord.conf: its own socket, pid and logs in the state directory, plus the shipped
    [program:ihome] section with this checkout's paths and ``stack.processes`` processes."""
    d = stack.path
    program = shipped
    for old, new in (("numprocs = 2\n", f"numprocs = {stack.processes}\n"),
                     ("numprocs_start = 8001\n", f"numprocs_start = {stack.app_port}\n"),
                     ("/srv/ihome/.venv/bin/python ", f"{python} "),
                     ("directory = /srv/ihome\n", f"directory = {ROOT}\n"),
                     ('IHOME_MEDIA_DIR="/srv/ihome/var/media"', f'IHOME_MEDIA_DIR="{stack.media_dir}"'),
                     ("stdout_logfile = /var/log/ihome/", f"stdout_logfile = {stack.logs}/"),
                     ("--log_file_prefix=/var/log/ihome/", f"--log_file_prefix={stack.logs}/")):
        program = _replace_once(program, old, new)
    return f"""; Rendered by deploy/prodlocal.py from deploy/supervisor.conf. Edit those, not this file.
[unix_http_server]
file = {d}/supervisor.sock
chmod = 0700

[supervisord]
logfile = {stack.logs}/supervisord.log
pidfile = {d}/supervisord.pid
childlogdir = {stack.logs}
directory = {ROOT}
identifier = ihome-prod-local

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{d}/supervisor.sock

{program}"""


def write_nginx_site(stack: Stack, down: frozenset[int] = frozenset()) -> None:
    """Render and write ``<dir>/nginx/site.conf`` (atomically)."""
    _write(stack.site_conf, render_site(SHIPPED_NGINX.read_text(), root=ROOT, media_dir=Path(stack.media_dir),
                                        port=stack.port, app_ports=stack.app_ports, down=down))


def render_all(stack: Stack) -> None:
    """Write every rendered file and the state directory's folders."""
    for sub in ("logs", "nginx/tmp"):
        (stack.path / sub).mkdir(parents=True, exist_ok=True)
    Path(stack.media_dir).mkdir(parents=True, exist_ok=True)
    write_nginx_site(stack)
    # nginx started by root hands its workers to "nobody", who could not read a private checkout.
    _write(stack.nginx_conf, render_nginx_main(stack, user="root" if os.geteuid() == 0 else None))
    _write(stack.supervisor_conf, render_supervisor(SHIPPED_SUPERVISOR.read_text(), stack, python=venv_python()))


# --- processes -------------------------------------------------------------------------------

def venv_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _tool(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()),
                                      None)
    if not path:
        raise ProdError(f"{name} is not installed (scripts/prod.sh installs it with apt-get)")
    return path


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _children(pid: int) -> set[int]:
    """The pids whose parent is *pid* (nginx's workers, from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _wait(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll *predicate* until true or *timeout* seconds pass (then returns its last answer)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


def healthy(port: int) -> bool:
    """True when http://127.0.0.1:*port*/healthz answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} does not exist)"


def _app_log(stack: Stack, port: int) -> str:
    """The end of an app process's own log and of what it printed outside it (supervisord's capture)."""
    return (f"{stack.logs}/{PROGRAM}-{port}.log:\n{_tail(stack.logs / f'{PROGRAM}-{port}.log')}\n"
            f"{stack.logs}/{PROGRAM}-{port}.out:\n{_tail(stack.logs / f'{PROGRAM}-{port}.out')}")


def supervisorctl(stack: Stack, *args: str, check: bool = True) -> str:
    """Run ``supervisorctl -c <dir>/supervisord.conf *args*``; its output (ProdError on failure when *check*)."""
    proc = subprocess.run([_tool("supervisorctl"), "-c", str(stack.supervisor_conf), *args],
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise ProdError(f"supervisorctl {' '.join(args)}: {proc.stdout.strip()} {proc.stderr.strip()}")
    return proc.stdout


def app_pids(stack: Stack) -> dict[int, int]:
    """{app port: pid} of the app processes supervisord runs now (a stopped one is left out)."""
    pids = {}
    for port in stack.app_ports:
        out = supervisorctl(stack, "pid", f"{PROGRAM}:{PROGRAM}-{port}", check=False).strip()
        if out.isdigit() and int(out) > 0:
            pids[port] = int(out)
    return pids


def _nginx_command(stack: Stack) -> list[str]:
    return [_tool("nginx"), "-p", f"{stack.path}/nginx/", "-c", str(stack.nginx_conf),
            "-e", str(stack.logs / "nginx-error.log")]


def nginx_reload(stack: Stack) -> None:
    """Check the rendered config, tell nginx to reload it, and wait until new workers run it.

    nginx's reload is graceful: old workers finish what they have and take nothing new.
    Raises ProdError when the config is invalid or no new worker appears within 10 s.
    """
    master = _read_pid(stack.path / "nginx.pid")
    if master is None:
        raise ProdError("nginx is not running")
    check = subprocess.run(_nginx_command(stack) + ["-t", "-q"], capture_output=True, text=True)
    if check.returncode != 0:
        raise ProdError(f"nginx -t: {check.stderr.strip()}")
    before = _children(master)
    os.kill(master, signal.SIGHUP)
    if not _wait(lambda: bool(_children(master) - before), 10):
        raise ProdError(f"nginx did not start new workers after a reload; see {stack.logs}/nginx-error.log")


def _ensure_secret(path: Path, make) -> str:
    """The secret kept in *path* (0600), generated by *make()* the first time."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    _write(path, value + "\n", mode=0o600)
    return value


def app_environment(stack: Stack) -> dict[str, str]:
    """The environment of manage.py and the app processes: production, this stack's servers and secrets."""
    sys.path.insert(0, str(ROOT))
    from services.crypto import generate_key

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IHOME_PROD_", "IHOME_TEST_"))}
    env.update(
        IHOME_ENV="production",
        IHOME_COOKIE_SECRET=_ensure_secret(stack.path / "cookie_secret", lambda: secrets.token_urlsafe(48)),
        IHOME_DATA_KEY=_ensure_secret(stack.path / "data_key", generate_key),
        IHOME_MYSQL_URL=stack.mysql_url,
        IHOME_REDIS_URL=stack.redis_url,
        IHOME_MEDIA_DIR=stack.media_dir,
        IHOME_XHEADERS="1",
        IHOME_MEDIA_ACCEL_REDIRECT="/_media/",
    )
    return env


def _manage(env: dict, *args: str) -> None:
    proc = subprocess.run([venv_python(), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        hint = ""
        if "IHOME_DATA_KEY" in proc.stderr:
            hint = ("\nThe database's ID-card numbers were encrypted under another data key than the one in "
                    "this state directory: restore that data_key file, or use a fresh database.")
        raise ProdError(f"manage.py {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}{hint}")
    for line in proc.stdout.splitlines():
        log(line)


def log(message: str) -> None:
    print(f"[prod] {message}", file=sys.stderr, flush=True)


def start(stack: Stack) -> None:
    """Migrate, seed, render, then start supervisord and nginx; everything is stopped again on failure."""
    running = load_stack({"IHOME_PROD_DIR": stack.dir})
    if running and (_read_pid(running.path / "supervisord.pid") or _read_pid(running.path / "nginx.pid")):
        if running != stack:
            raise ProdError(f"a prod-local with other settings runs from {stack.dir} on port {running.port}: "
                            "stop it first (make prod-stop)")
        log(f"already running on http://127.0.0.1:{running.port}/")
        return
    busy = [p for p in [stack.port, *stack.app_ports] if not _port_free(p)]
    if busy:
        raise ProdError(f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use "
                        "(IHOME_PROD_PORT / IHOME_PROD_APP_PORT choose others)")
    for tool in ("nginx", "supervisord", "supervisorctl"):
        _tool(tool)
    stack.path.mkdir(parents=True, exist_ok=True)
    env = app_environment(stack)
    _manage(env, "wait-db", "--timeout", "60")
    _manage(env, "migrate")
    if SEEDS[stack.seed] is not None:
        _manage(env, "seed", "--quiet", *SEEDS[stack.seed])
    render_all(stack)
    _write(stack.path / "state.json", json.dumps(asdict(stack), indent=2) + "\n")
    try:
        proc = subprocess.run([_tool("supervisord"), "-c", str(stack.supervisor_conf)], env=env,
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise ProdError(f"supervisord did not start: {proc.stderr.strip() or proc.stdout.strip()}")
        for port in stack.app_ports:
            if not _wait(lambda: healthy(port), START_TIMEOUT, 0.2):
                raise ProdError(f"the app process on port {port} did not answer /healthz within "
                                f"{START_TIMEOUT:.0f} s; {_app_log(stack, port)}")
        check = subprocess.run(_nginx_command(stack) + ["-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise ProdError(f"nginx -t: {check.stderr.strip()}")
        proc = subprocess.run(_nginx_command(stack), capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise ProdError(f"nginx did not start: {proc.stderr.strip()}")
        if not _wait(lambda: healthy(stack.port), START_TIMEOUT, 0.1):
            raise ProdError(f"nginx on {stack.port} did not answer /healthz; "
                            f"see {stack.logs}/nginx-error.log:\n{_tail(stack.logs / 'nginx-error.log')}")
    except BaseException:
        stop(stack)
        raise
    log(f"爱家 (production) on http://127.0.0.1:{stack.port}/ — nginx in front of {stack.processes} "
        f"process(es) on {', '.join(map(str, stack.app_ports))}; database {stack.mysql_url.rsplit('/', 1)[1]}, "
        f"Redis {stack.redis_url}; logs in {stack.logs}")


def stop(stack: Stack) -> None:
    """Stop nginx (graceful quit), then supervisord and its processes (SIGTERM drain); SIGKILL what outlives that."""
    nginx = _read_pid(stack.path / "nginx.pid")
    if nginx:
        workers = _children(nginx)
        os.kill(nginx, signal.SIGQUIT)  # finish the requests in progress, then exit
        if not _wait(lambda: not _alive(nginx), 15):
            log("nginx did not quit within 15 s: killing it")
            for pid in {nginx, *workers}:
                _kill(pid)
    supervisord = _read_pid(stack.path / "supervisord.pid")
    if supervisord:
        apps = set(_children(supervisord))
        os.kill(supervisord, signal.SIGTERM)  # stops every program (SIGTERM, stopwaitsecs) and exits
        if not _wait(lambda: not _alive(supervisord), 25):
            log("supervisord did not stop within 25 s: killing it and its processes")
            _kill(supervisord)
        for pid in apps:
            if _alive(pid):
                log(f"app process {pid} outlived supervisord: killing it")
                _kill(pid)
    if nginx or supervisord:
        log("stopped")
    else:
        log("nothing was running")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reload(stack: Stack) -> None:
    """Restart the app processes one at a time: out of nginx's rotation, SIGTERM drain, start, /healthz, back in."""
    if _read_pid(stack.path / "supervisord.pid") is None or _read_pid(stack.path / "nginx.pid") is None:
        raise ProdError("prod-local is not running (make prod-local)")
    if stack.processes == 1:
        log("only one process: requests that arrive while it restarts are refused")
    for port in stack.app_ports:
        others = [p for p in stack.app_ports if p != port]
        if not all(_wait(lambda: healthy(p), START_TIMEOUT, 0.2) for p in others):
            raise ProdError(f"not restarting {port}: another process does not answer /healthz")
        if others:
            write_nginx_site(stack, down=frozenset({port}))
            nginx_reload(stack)
        old, began = app_pids(stack).get(port), time.monotonic()
        supervisorctl(stack, "restart", f"{PROGRAM}:{PROGRAM}-{port}")
        if not _wait(lambda: healthy(port), START_TIMEOUT, 0.1):
            write_nginx_site(stack)
            raise ProdError(f"the restarted process on {port} does not answer /healthz; {_app_log(stack, port)}")
        write_nginx_site(stack)
        nginx_reload(stack)
        log(f"restarted {port} (pid {old} → {app_pids(stack).get(port)}) in {time.monotonic() - began:.1f} s")


def status(stack: Stack, as_json: bool) -> int:
    """Print what runs: nginx's pid, each process's pid and health. 0 when everything answers."""
    nginx = _read_pid(stack.path / "nginx.pid")
    pids = app_pids(stack) if _read_pid(stack.path / "supervisord.pid") else {}
    health = {port: healthy(port) for port in stack.app_ports}
    ok = bool(nginx) and healthy(stack.port) and all(health.values()) and len(pids) == stack.processes
    if as_json:
        print(json.dumps({"ok": ok, "port": stack.port, "nginx_pid": nginx, "dir": stack.dir,
                          "processes": {str(p): {"pid": pids.get(p), "healthy": health[p]}
                                        for p in stack.app_ports}}))
    else:
        print(f"nginx: {'pid ' + str(nginx) if nginx else 'stopped'} on http://127.0.0.1:{stack.port}/")
        for port in stack.app_ports:
            print(f"{PROGRAM}-{port}: {'pid ' + str(pids[port]) if port in pids else 'stopped'}, "
                  f"/healthz {'ok' if health[port] else 'not answering'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop", "reload", "status", "render"))
    parser.add_argument("--json", action="store_true", help="status as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command in ("start", "render"):
            stack = stack_from_env()
            if args.command == "render":  # the files only (to read them); starts nothing
                render_all(stack)
                log(f"rendered into {stack.dir}")
                return 0
            start(stack)
            return 0
        stack = load_stack()
        if stack is None:
            if args.command == "stop":
                log("nothing was started here")
                return 0
            raise ProdError("prod-local has not been started here (make prod-local)")
        if args.command == "stop":
            stop(stack)
        elif args.command == "reload":
            reload(stack)
        else:
            return status(stack, args.json)
        return 0
    except ProdError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
