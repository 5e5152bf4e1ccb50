"""Page throughput with wrk, as ratios against baselines measured in the same run.

    .venv/bin/python bench/pages.py [--rounds 3] [--duration 10] [--connections 64] [--only home,search]
                                    [--profile]

Starts, on free loopback ports: ``server.py`` (one process, IHOME_ENV=test, bcrypt at
the production cost of 12) on a throw-away database with the demo data (42 listings
with photos; tests/utils/testdb.py + the demo seed), and the two baselines of
bench/baselines.py (``hello``: bare Tornado; ``floor``: one aiomysql SELECT by key +
one Redis GET). Then it runs every scenario interleaved with the baselines, ``rounds``
times (wrk, 1 thread, ``connections`` connections, ``duration`` seconds each), and
prints the median and range of each figure, plus the ratios of the medians::

    ratio_hello = rps / hello rps        ratio_floor = rps / floor rps

Scenarios (names as in var/bench/results.json):

- ``home``, ``search``, ``listing``: cached public pages, logged out;
- ``home_logged_in``, ``search_logged_in``, ``listing_logged_in``: the same pages with a
  session cookie (the demo landlord; the listing is someone else's, so it shows the booking
  form) — target ≥ 0.8× the logged-out row (``vs`` / ``ratio_vs``);
- ``home_idle`` and ``home_during_logins``: ``/`` alone, and ``/`` while 16 clients log
  in (bcrypt cost 12) in a loop — the logins' effect on everyone else;
- ``nginx_home``: ``/`` through nginx in front of two processes (the production stack of
  ``make prod-local``, brought up by scripts/prod.sh on free ports over the same database,
  Redis db and pictures), against ``home``: one process (target ≥ 1.6×);
- ``nginx_static`` and ``single_static``: ``/static/css/site.css`` from nginx, and from the
  one Tornado process (target ≥ 5×).

Those comparisons are the rows' ``vs`` / ``ratio_vs`` / ``target_vs``.

``--profile``: after the measured rounds, each selected app scenario runs once more under
``py-spy record`` (not counted in the figures); the raw stacks go to
``var/bench/profile-<name>.txt`` and the functions with the largest share of samples
(inclusive, then own) are printed.

Results go to ``var/bench/results.json``: a list of ``{"name", "rps", "p50_ms",
"p99_ms", "ratio_hello", "ratio_floor"}`` (medians over the rounds), plus ``cpu_us``: the CPU
time the serving process spent per request (from /proc, one process only: not for nginx), and
``cpu_ratio_hello`` = hello's ``cpu_us`` / the row's — the rate ratio each would have with a
core to itself, which other programs on a shared machine disturb much less than the rates. wrk is installed
with apt-get when missing (as root). Everything started here is stopped at the end.
The machine is shared and noisy: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, seed_demo_data, stop, wait_until_up  # noqa: E402
from config import test_settings  # noqa: E402
from models.seed import DEMO_MOBILE, DEMO_PASSWORD  # noqa: E402
from tests.utils.testdb import throwaway_database  # noqa: E402

RESULTS = ROOT / "var" / "bench" / "results.json"
NGINX_PROCESSES = 2
STATIC_FILE = "/static/css/site.css"
# Rows compared with another row of the same run instead of the baselines: name → (other, target ratio).
VERSUS = {"nginx_home": ("home", 1.6), "nginx_static": ("single_static", 5.0),
          "home_logged_in": ("home", 0.8), "search_logged_in": ("search", 0.8),
          "listing_logged_in": ("listing", 0.8)}
LOGINS = 16  # concurrent clients logging in for home_during_logins
# The logged-in rows' visitor: a guest (the demo landlord owns every demo listing).
GUEST_MOBILE, GUEST_PASSWORD = "13900000001", "bench-guest-pw"
PROFILE_SECONDS = 8


@dataclass
class Figure:
    """One wrk run: requests per second and latency percentiles in milliseconds."""

    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    requests: int = 0
    cpu_us: float | None = None  # CPU time of the serving process per request (µs)


@dataclass
class Scenario:
    name: str
    url: str
    headers: dict = field(default_factory=dict)
    pid: int | None = None  # the serving process (for the CPU per request), when it is one
    during_logins: bool = False
    runs: list = field(default_factory=list)


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing (needs root)."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install wrk (as root)")
    print("installing wrk with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "/usr/bin/wrk"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> Figure:
    """Requests/sec, the 50 % and 99 % latencies and the non-2xx count from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    done = re.search(r"(\d+) requests in", output)
    return Figure(rps, p50, p99, int(bad.group(1)) if bad else 0, int(done.group(1)) if done else 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far (seconds), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, url: str, headers: dict, duration: int, connections: int, pid: int | None = None) -> Figure:
    """One wrk run; with *pid*, also the CPU time that process spent per request — a figure the
    other programs on a shared machine disturb far less than the request rate."""
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    figure = parse_wrk(out)
    if pid and figure.requests:
        figure.cpu_us = (cpu_seconds(pid) - before) * 1e6 / figure.requests
    return figure


def start(cmd: list[str], env: dict, log_path: Path, stack: ExitStack) -> subprocess.Popen:
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop_and_close() -> None:
        stop(proc)
        log.close()
    stack.callback(stop_and_close)
    return proc


class Browser:
    """A cookie-keeping urllib client (for logging in outside wrk)."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  NoRedirect())

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def login(self, mobile: str, password: str) -> int:
        if self.cookie("_xsrf") is None:
            self.opener.open(self.base + "/login", timeout=30).read()
        body = urllib.parse.urlencode({"mobile": mobile, "password": password, "next": "/",
                                       "_xsrf": self.cookie("_xsrf")}).encode()
        try:
            with self.opener.open(self.base + "/login", data=body, timeout=60) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def logins_in_background(base: str, stop: threading.Event) -> tuple[list[threading.Thread], list[int]]:
    """LOGINS threads, each logging the demo landlord in again and again until *stop* is set."""
    codes: list[int] = []

    def loop() -> None:
        browser = Browser(base)
        while not stop.is_set():
            codes.append(browser.login(DEMO_MOBILE, DEMO_PASSWORD))
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(LOGINS)]
    for t in threads:
        t.start()
    return threads, codes


def start_prod_stack(settings, workdir: Path, stack: ExitStack) -> str:
    """``scripts/prod.sh start`` (what ``make prod-local`` runs) with NGINX_PROCESSES processes on
    free ports, over *settings*' database, Redis db and media; stopped by *stack*. Returns nginx's URL."""
    port, app_port = free_port(), free_port()
    while not all(_port_is_free(app_port + i) for i in range(NGINX_PROCESSES)):
        app_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
    env.update(IHOME_PROD_DIR=str(workdir / "prod"), IHOME_PROD_PORT=str(port), IHOME_PROD_APP_PORT=str(app_port),
               IHOME_PROCESSES=str(NGINX_PROCESSES), IHOME_PROD_SEED="none",
               IHOME_PROD_MYSQL_URL=settings.mysql_url, IHOME_PROD_REDIS_URL=settings.redis_url,
               IHOME_PROD_MEDIA_DIR=str(settings.media_dir),
               # The bench's servers are up: scripts/services.sh must not start others.
               IHOME_MYSQL_URL=settings.mysql_url, IHOME_REDIS_URL=settings.redis_url,
               IHOME_IPLOOKUP_URL="http://127.0.0.1:9/{ip}")
    script = str(ROOT / "scripts" / "prod.sh")
    stack.callback(lambda: subprocess.run([script, "stop"], cwd=ROOT, env=env, check=False, timeout=120))
    subprocess.run([script, "start"], cwd=ROOT, env=env, check=True, timeout=300)
    return f"http://127.0.0.1:{port}"


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def profile(wrk: str, scenario: Scenario, pid: int, workdir: Path, connections: int) -> None:
    """Run *scenario* under wrk while py-spy samples the app process *pid*; print its hot spots."""
    out = workdir / f"profile-{scenario.name}.txt"
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid),
                            "--duration", str(PROFILE_SECONDS), "--format", "raw", "--nonblocking",
                            "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_wrk(wrk, scenario.url, scenario.headers, PROFILE_SECONDS + 1, connections)
    finally:
        spy.wait(60)
    if out.exists():
        print(f"\nprofile of {scenario.name} ({out.relative_to(ROOT)}):")
        print(hot_spots(out.read_text()))


def hot_spots(raw: str, top: int = 25) -> str:
    """The functions of py-spy's raw (collapsed) stacks with the largest share of samples: inclusive
    (the function or anything it called) and own (the function itself), as percentages."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]  # a function, not a line
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    if not total:
        return "  (no samples)"
    lines = [f"  {'incl %':>6s} {'own %':>6s}  function ({total} samples)"]
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:6.1f} {100 * own.get(frame, 0) / total:6.1f}  {frame}")
    lines.append("  top own:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {'':6s} {100 * n / total:6.1f}  {frame}")
    return "\n".join(lines)


def summarise(name: str, runs: list[Figure], hello: float, floor: float) -> dict:
    rps = statistics.median(r.rps for r in runs)
    cpu = [r.cpu_us for r in runs if r.cpu_us]
    return {"name": name, "rps": round(rps, 1),
            "cpu_us": round(statistics.median(cpu), 1) if cpu else None,
            "p50_ms": round(statistics.median(r.p50_ms for r in runs), 2),
            "p99_ms": round(statistics.median(r.p99_ms for r in runs), 2),
            "ratio_hello": round(rps / hello, 3) if hello else None,
            "ratio_floor": round(rps / floor, 3) if floor else None,
            "rps_range": [round(min(r.rps for r in runs), 1), round(max(r.rps for r in runs), 1)],
            "non_2xx": sum(r.non_2xx for r in runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", default="", help="comma-separated scenario names (baselines always run)")
    parser.add_argument("--redis-db", type=int, default=11, help="a scratch Redis database (flushed)")
    parser.add_argument("--profile", action="store_true",
                        help="then profile each app scenario with py-spy (var/bench/profile-<name>.txt)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    base = test_settings(media_dir=workdir / "media")

    with throwaway_database(f"ihome_test_bench_pages_{os.getpid()}", base=base,
                            redis_db=args.redis_db) as settings, ExitStack() as stack:
        seed_demo_data(settings, GUEST_MOBILE, GUEST_PASSWORD)
        ports = {name: free_port() for name in ("app", "hello", "floor")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
        env.update(IHOME_ENV="test", IHOME_MYSQL_URL=settings.mysql_url, IHOME_REDIS_URL=settings.redis_url,
                   IHOME_MEDIA_DIR=str(settings.media_dir), IHOME_COOKIE_SECRET=secrets.token_urlsafe(36),
                   IHOME_BCRYPT_ROUNDS="12", IHOME_IPLOOKUP_URL="http://127.0.0.1:9/{ip}",
                   IHOME_LIMIT_LOGIN_PER_IP="0", IHOME_LIMIT_LOGIN_PER_MOBILE="0")
        py = sys.executable
        # As in production (nginx keeps the access log) and as the baselines: no line per request.
        app = start([py, "server.py", f"--port={ports['app']}", "--access_log=false"], env, workdir / "app.log",
                    stack)
        hello = start([py, "bench/baselines.py", "hello", f"--port={ports['hello']}"], env,
                      workdir / "hello.log", stack)
        floor = start([py, "bench/baselines.py", "floor", f"--port={ports['floor']}",
                       f"--mysql-url={settings.mysql_url}", f"--redis-url={settings.redis_url}"], env,
                      workdir / "floor.log", stack)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, proc in (("app", app), ("hello", hello), ("floor", floor)):
            wait_until_up(urls[name] + "/", proc)

        guest = Browser(urls["app"])
        assert guest.login(GUEST_MOBILE, GUEST_PASSWORD) == 302, "the bench's guest could not log in"
        # The session and XSRF cookies, as a browser holds them after its first page: the login's
        # one-time flash cookie is dropped once shown, so it is not sent on every request here.
        session_cookie = "; ".join(f"{c.name}={c.value}" for c in guest.jar if c.name != "ihome_flash")
        member = {"Cookie": session_cookie}
        listing_id = json.loads(urllib.request.urlopen(urls["app"] + "/api/v1/houses", timeout=10).read())
        listing_id = listing_id["houses"][0]["id"] if isinstance(listing_id, dict) else listing_id[0]["id"]

        app_url = urls["app"]
        wanted = set(args.only.split(",")) | {"hello", "floor"} if args.only else None
        nginx_url = ""
        if wanted is None or wanted & {"nginx_home", "nginx_static"}:
            nginx_url = start_prod_stack(settings, workdir, stack)
        scenarios = [
            Scenario("hello", urls["hello"] + "/"),
            Scenario("floor", urls["floor"] + "/"),
            Scenario("home", app_url + "/"),
            Scenario("search", app_url + "/houses?sort=new"),
            Scenario("listing", f"{app_url}/houses/{listing_id}"),
            Scenario("home_logged_in", app_url + "/", headers=member),
            Scenario("search_logged_in", app_url + "/houses?sort=new", headers=member),
            Scenario("listing_logged_in", f"{app_url}/houses/{listing_id}", headers=member),
            Scenario("home_idle", app_url + "/"),
            Scenario("home_during_logins", app_url + "/", during_logins=True),
            Scenario("nginx_home", nginx_url + "/"),
            Scenario("nginx_static", nginx_url + STATIC_FILE),
            Scenario("single_static", app_url + STATIC_FILE),
        ]
        for s in scenarios:
            if s.url.startswith(urls["hello"] + "/"):
                s.pid = hello.pid
            elif s.url.startswith(urls["floor"] + "/"):
                s.pid = floor.pid
            elif s.url.startswith(app_url + "/"):
                s.pid = app.pid
            else:
                s.pid = None  # nginx: several processes
        if wanted is not None:
            scenarios = [s for s in scenarios if s.name in wanted]
        for s in scenarios:  # fill the caches; compile the templates
            urllib.request.urlopen(urllib.request.Request(s.url, headers=s.headers), timeout=30).read()

        login_codes: list[int] = []
        for r in range(1, args.rounds + 1):
            for s in scenarios:
                stop = threading.Event()
                threads: list[threading.Thread] = []
                if s.during_logins:
                    threads, login_codes = logins_in_background(app_url, stop)
                    time.sleep(1)  # let the logins get going before measuring
                try:
                    s.runs.append(run_wrk(wrk, s.url, s.headers, args.duration, args.connections, s.pid))
                finally:
                    stop.set()
                    for t in threads:
                        t.join(70)
                f = s.runs[-1]
                print(f"round {r} {s.name:20s} {f.rps:9.1f} req/s  p50 {f.p50_ms:8.2f} ms  p99 {f.p99_ms:8.2f} ms"
                      + (f"  cpu {f.cpu_us:7.0f} µs/req" if f.cpu_us else "")
                      + (f"  non-2xx {f.non_2xx}" if f.non_2xx else ""), flush=True)
        if args.profile:
            for s in scenarios:
                if s.url.startswith(app_url) and not s.during_logins and s.url != app_url + STATIC_FILE:
                    profile(wrk, s, app.pid, workdir, args.connections)

    hello_rps = statistics.median(r.rps for r in scenarios[0].runs)
    floor_rps = statistics.median(r.rps for r in scenarios[1].runs)
    results = [summarise(s.name, s.runs, hello_rps, floor_rps) for s in scenarios]
    hello_cpu = results[0].get("cpu_us")
    for row in results:  # the rate ratio each would have with a core of its own
        row["cpu_ratio_hello"] = round(hello_cpu / row["cpu_us"], 3) if hello_cpu and row.get("cpu_us") else None
    by_name = {row["name"]: row for row in results}
    for name, (other, target) in VERSUS.items():
        if name in by_name and other in by_name and by_name[other]["rps"]:
            by_name[name].update(vs=other, ratio_vs=round(by_name[name]["rps"] / by_name[other]["rps"], 2),
                                 target_vs=target)
            if by_name[name].get("cpu_us") and by_name[other].get("cpu_us"):
                by_name[name]["cpu_ratio_vs"] = round(by_name[other]["cpu_us"] / by_name[name]["cpu_us"], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\n{'scenario':20s} {'req/s':>9s} {'(range)':>17s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'×hello':>7s} {'×floor':>7s} {'µs/req':>7s} {'cpu×hello':>9s}")
    for row in results:
        lo, hi = row["rps_range"]
        cpu = f"{row['cpu_us']:7.0f}" if row.get("cpu_us") else f"{'-':>7s}"
        cpu_ratio = f"{row['cpu_ratio_hello']:9.3f}" if row.get("cpu_ratio_hello") else f"{'-':>9s}"
        print(f"{row['name']:20s} {row['rps']:9.1f} {f'({lo:.0f}–{hi:.0f})':>17s} {row['p50_ms']:8.2f} "
              f"{row['p99_ms']:8.2f} {row['ratio_hello']:7.3f} {row['ratio_floor']:7.3f} {cpu} {cpu_ratio}")
    for row in results:
        if "vs" in row:
            print(f"{row['name']} / {row['vs']}: {row['ratio_vs']:.2f}× (target ≥ {row['target_vs']}×)"
                  + (f"; by CPU per request {row['cpu_ratio_vs']:.2f}×" if row.get("cpu_ratio_vs") else ""))
    if login_codes:
        print(f"logins during home_during_logins: {len(login_codes)} (codes {sorted(set(login_codes))})")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
