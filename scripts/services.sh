#!/usr/bin/env bash
# Start or stop the local MariaDB and Redis that 爱家 uses in development and tests.
#
#   scripts/services.sh start   install (apt-get) when missing, start both on loopback,
#                               create the database user; idempotent and quick when running
#   scripts/services.sh stop    stop what `start` started
#   scripts/services.sh status
#
# Data lives under var/ (var/mysql, var/redis); sockets and pid files under var/run.
# When IHOME_MYSQL_URL / IHOME_REDIS_URL are set, the matching server is not started:
# the operator's own server is used instead.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var"
run="$var/run"
mysql_port="${IHOME_LOCAL_MYSQL_PORT:-3307}"
redis_port="${IHOME_LOCAL_REDIS_PORT:-6380}"
mysql_sock="$run/mysqld.sock"
db_user="ihome"
db_pass="ihome-local"

log() { printf '[services] %s\n' "$*" >&2; }

need_packages() {
  local missing=()
  command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server mariadb-client)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # IHOME_WITH_BROWSER=1 (make test): also what the browser and deployment tests need.
  if [ "${IHOME_WITH_BROWSER:-0}" = 1 ]; then
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    # A CJK font, or the browser tests' screenshots show boxes for Chinese text.
    [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
    # The deployment tests serve the shipped deploy/nginx.conf with a throw-away certificate.
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    # deploy/nginx.conf compresses with brotli as well as gzip: Debian's module for its nginx.
    [ -f /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so ] || missing+=(libnginx-mod-http-brotli-filter)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # ... and the local production stack (tests/test_prod_local.py) runs its processes under supervisord.
    command -v supervisord >/dev/null 2>&1 || missing+=(supervisor)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      log "missing Debian packages: ${missing[*]} (install them, or run as root)"; exit 1
    fi
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

mysql_root() { mariadb --no-defaults --socket="$mysql_sock" -uroot "$@"; }

start_mysql() {
  if [ -n "${IHOME_MYSQL_URL:-}" ]; then log "IHOME_MYSQL_URL set: not starting MariaDB"; return; fi
  mkdir -p "$var/mysql" "$run"
  if mariadb-admin --no-defaults --socket="$mysql_sock" -uroot ping >/dev/null 2>&1; then
    return
  fi
  if [ ! -d "$var/mysql/mysql" ]; then
    log "initialising MariaDB data directory in var/mysql"
    mariadb-install-db --no-defaults --user=root --datadir="$var/mysql" \
      --auth-root-authentication-method=socket --skip-test-db >/dev/null
  fi
  log "starting MariaDB on 127.0.0.1:$mysql_port"
  nohup mariadbd --no-defaults --user=root --datadir="$var/mysql" --socket="$mysql_sock" \
    --port="$mysql_port" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$run/mysqld.pid" --log-error="$var/mysql.err" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-flush-log-at-trx-commit=2 --max-connections=500 >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    mariadb-admin --no-defaults --socket="$mysql_sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.25
  done
  mariadb-admin --no-defaults --socket="$mysql_sock" -uroot ping >/dev/null
  # The app and tests connect over TCP as a user of their own; tests create and drop
  # their throw-away databases (ihome_test_*), so the user may do that.
  mysql_root <<SQL
CREATE USER IF NOT EXISTS '$db_user'@'127.0.0.1' IDENTIFIED BY '$db_pass';
GRANT ALL PRIVILEGES ON \`ihome\`.* TO '$db_user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`ihome\\_test%\`.* TO '$db_user'@'127.0.0.1';
CREATE DATABASE IF NOT EXISTS ihome CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
SQL
}

# Ready means PONG: while Redis loads its append-only file after a restart it answers
# PING with a LOADING error, and the first clients would see Redis as down.
redis_ready() {
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = "PONG" ]
}

start_redis() {
  if [ -n "${IHOME_REDIS_URL:-}" ]; then log "IHOME_REDIS_URL set: not starting Redis"; return; fi
  mkdir -p "$var/redis" "$run"
  if redis_ready; then return; fi
  log "starting Redis on 127.0.0.1:$redis_port"
  # Sessions live here: an append-only file (fsync'd every second) keeps them across a
  # restart, plus RDB snapshots. Revocations are also kept in MariaDB, so even a
  # restore from an older snapshot cannot bring a logged-out session back.
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$var/redis" \
    --daemonize yes --pidfile "$run/redis.pid" --logfile "$var/redis.log" \
    --save 60 1 --appendonly yes --appendfsync everysec --databases 32 >/dev/null
  for _ in $(seq 1 40); do
    redis_ready && return
    sleep 0.25
  done
  log "Redis did not answer"; exit 1
}

stop_all() {
  if [ -f "$run/redis.pid" ]; then
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    rm -f "$run/redis.pid"
  fi
  if mariadb-admin --no-defaults --socket="$mysql_sock" -uroot ping >/dev/null 2>&1; then
    mariadb-admin --no-defaults --socket="$mysql_sock" -uroot shutdown || true
  fi
  log "stopped"
}

case "${1:-start}" in
  start) need_packages; start_mysql; start_redis
         echo "mysql://$db_user:$db_pass@127.0.0.1:$mysql_port/ihome redis://127.0.0.1:$redis_port/0" ;;
  stop) stop_all ;;
  status)
    mariadb-admin --no-defaults --socket="$mysql_sock" -uroot ping 2>&1 || true
    redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>&1 || true ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
