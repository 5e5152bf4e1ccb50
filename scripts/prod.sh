#!/usr/bin/env bash
# A production-shaped 爱家 on this machine: nginx in front of N app processes under supervisord.
#
#   scripts/prod.sh start    (make prod-local)   install nginx/supervisor when missing, start the
#                                                local MariaDB and Redis, then deploy/prodlocal.py start
#   scripts/prod.sh stop     (make prod-stop)
#   scripts/prod.sh reload   (make prod-reload)  restart the app processes one at a time, dropping nothing
#   scripts/prod.sh status [--json]
#
# Settings (IHOME_PROD_PORT, IHOME_PROCESSES, IHOME_PROD_DIR, …) are listed in deploy/prodlocal.py.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
py="$top/.venv/bin/python"
default_db_url="mysql://ihome:ihome-local@127.0.0.1:3307/ihome_prod_local"

log() { printf '[prod] %s\n' "$*" >&2; }

need_packages() {
  local missing=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  # deploy/nginx.conf compresses with brotli as well as gzip: Debian's module for its nginx.
  [ -f /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so ] || missing+=(libnginx-mod-http-brotli-filter)
  command -v supervisord >/dev/null 2>&1 || missing+=(supervisor)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]} (install them, or run as root)"; exit 1
  fi
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's packages would start a system-wide nginx / supervisord where services may start;
  # this stack runs its own with private configs, so those are left alone.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The default database, ihome_prod_local, is prod-local's own: production settings, its own data
# key and demo data, apart from `make run`'s `ihome`. scripts/services.sh lets the local user
# create only `ihome` and `ihome_test…`, so it is created and granted here, as root on the local
# server's socket. Any other IHOME_PROD_MYSQL_URL is used as it is.
local_database() {
  local url="${IHOME_PROD_MYSQL_URL:-$default_db_url}"
  [ "$url" = "$default_db_url" ] || return 0
  local sock="$top/var/run/mysqld.sock"
  if [ ! -S "$sock" ]; then
    log "no local MariaDB socket: not creating ihome_prod_local (set IHOME_PROD_MYSQL_URL)"; return 0
  fi
  mariadb --no-defaults --socket="$sock" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS ihome_prod_local CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON `ihome_prod_local`.* TO 'ihome'@'127.0.0.1';
SQL
}

[ -x "$py" ] || { log "no virtualenv: run make venv (or make run) first"; exit 1; }

case "${1:-}" in
  start)
    need_packages
    # The same MariaDB and Redis as `make run` (idempotent when they are up; honours
    # IHOME_MYSQL_URL / IHOME_REDIS_URL for servers of one's own).
    scripts/services.sh start >/dev/null
    local_database
    exec "$py" deploy/prodlocal.py start ;;
  stop|reload)
    exec "$py" deploy/prodlocal.py "$1" ;;
  status)
    exec "$py" deploy/prodlocal.py status "${@:2}" ;;
  *) echo "usage: $0 start|stop|reload|status [--json]" >&2; exit 2 ;;
esac
