#!/usr/bin/env bash
# Starts (start DIR) or stops (stop DIR) a private Keystone for the tests:
# Debian's keystone package under uwsgi on 127.0.0.1, its own MariaDB (unix
# socket only, data under DIR), fernet keys, `keystone-manage bootstrap`
# (user admin in project admin, roles admin/member/reader, region RegionOne).
# Two uwsgi servers share the database and keys: the main one issues tokens
# valid for an hour, the second one ("short") for KEYSTONE_SHORT_EXPIRATION
# seconds (default 60), for the expiry tests. A token from either is valid at
# both. `start` prints the environment the tests read:
#   NEUTRINO_TEST_KEYSTONE        http://127.0.0.1:PORT/v3
#   NEUTRINO_TEST_KEYSTONE_SHORT  http://127.0.0.1:PORT2/v3
#   NEUTRINO_TEST_KEYSTONE_ADMIN  the admin password
# Ports: NEUTRINO_KEYSTONE_PORT / NEUTRINO_KEYSTONE_SHORT_PORT, else free ones.
# `stop` stops only what `start` started, by the pid files under DIR.
# `reap` stops and removes the Keystones of runs whose scripts/test.sh is gone
# (DIR/owner holds its PID), as a killed run leaves them.
set -euo pipefail
cmd=${1:-} dir=${2:-}
ADMIN_PASSWORD=${NEUTRINO_KEYSTONE_ADMIN_PASSWORD:-admin-secret}
SHORT=${KEYSTONE_SHORT_EXPIRATION:-60}

port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
free_port() {
  local p
  while :; do p=$((20000 + RANDOM % 20000)); port_free "$p" && { echo "$p"; return; }; done
}

# conf FILE EXPIRATION: a keystone.conf for this instance.
conf() {
  cat >"$1" <<EOF
[DEFAULT]
log_file = $dir/log/$(basename "$1" .conf).log
[database]
connection = mysql+pymysql://keystone:keystone@localhost/keystone?unix_socket=$dir/my/sock&charset=utf8
[token]
provider = fernet
expiration = $2
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
[cache]
enabled = false
[identity]
# the tests create users; cheap bcrypt keeps that fast on small machines
password_hash_rounds = 4
EOF
}

# serve NAME PORT CONF PROCESSES: Keystone's public WSGI app under uwsgi.
serve() {
  # uwsgi's --http-socket closes the connection after each answer without
  # saying so; "Connection: close" keeps clients from reusing it.
  (cd / && exec setsid env OS_KEYSTONE_CONFIG_FILES="$3" uwsgi --plugins python3 \
     --http-socket "127.0.0.1:$2" --wsgi-file /usr/bin/keystone-wsgi-public --master --lazy-apps \
     --processes "$4" --threads 2 --enable-threads --buffer-size 65535 --add-header "Connection: close" \
     --die-on-term --no-orphans --pidfile "$dir/$1.pid" --logto "$dir/log/$1-uwsgi.log") </dev/null >/dev/null 2>&1 &
}

wait_up() { # URL
  for _ in $(seq 120); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.5
  done
  echo "keystone.sh: $1 did not come up; see $dir/log/" >&2
  return 1
}

start() {
  command -v keystone-manage >/dev/null && command -v uwsgi >/dev/null ||
    { echo "keystone.sh: keystone and uwsgi are not installed (scripts/deps.sh)" >&2; exit 1; }
  local port=${NEUTRINO_KEYSTONE_PORT:-$(free_port)} sport=${NEUTRINO_KEYSTONE_SHORT_PORT:-}
  [ -n "$sport" ] || while :; do sport=$(free_port); [ "$sport" != "$port" ] && break; done
  mkdir -p "$dir/log" "$dir/fernet-keys" "$dir/credential-keys" "$dir/my"
  chmod 700 "$dir/fernet-keys" "$dir/credential-keys"
  # mktemp -d makes DIR 0700: MariaDB (user mysql) must reach DIR/my.
  chmod 755 "$dir"
  chown mysql:mysql "$dir/my"
  mariadb-install-db --no-defaults --user=mysql --datadir="$dir/my/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$dir/log/my-init.log" 2>&1
  (cd / && exec setsid mariadbd --no-defaults --user=mysql --datadir="$dir/my/data" --socket="$dir/my/sock" \
     --pid-file="$dir/my/pid" --skip-networking --max-connections=200 --innodb-flush-log-at-trx-commit=2 \
     --innodb-buffer-pool-size=64M --log-error="$dir/my/log") </dev/null >/dev/null 2>&1 &
  for _ in $(seq 120); do
    mariadb --no-defaults -S "$dir/my/sock" -uroot -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --no-defaults -S "$dir/my/sock" -uroot <<'SQL'
CREATE DATABASE keystone CHARACTER SET utf8mb4;
CREATE USER 'keystone'@'localhost' IDENTIFIED BY 'keystone';
GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'localhost';
SQL
  conf "$dir/keystone.conf" 3600
  conf "$dir/keystone-short.conf" "$SHORT"
  local url=http://127.0.0.1:$port/v3 km="keystone-manage --config-file $dir/keystone.conf"
  $km db_sync >"$dir/log/db_sync.log" 2>&1
  $km fernet_setup --keystone-user root --keystone-group root >>"$dir/log/bootstrap.log" 2>&1
  $km credential_setup --keystone-user root --keystone-group root >>"$dir/log/bootstrap.log" 2>&1
  $km bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
    --bootstrap-project-name admin --bootstrap-role-name admin --bootstrap-service-name keystone \
    --bootstrap-region-id RegionOne --bootstrap-public-url "$url/" --bootstrap-internal-url "$url/" \
    --bootstrap-admin-url "$url/" >>"$dir/log/bootstrap.log" 2>&1
  serve keystone "$port" "$dir/keystone.conf" 2
  serve keystone-short "$sport" "$dir/keystone-short.conf" 1
  wait_up "$url/"
  wait_up "http://127.0.0.1:$sport/v3/"
  echo "export NEUTRINO_TEST_KEYSTONE='$url'"
  echo "export NEUTRINO_TEST_KEYSTONE_SHORT='http://127.0.0.1:$sport/v3'"
  echo "export NEUTRINO_TEST_KEYSTONE_ADMIN='$ADMIN_PASSWORD'"
}

# ours PIDFILE: the PID in PIDFILE when that process still runs with DIR on
# its command line (a PID from a stale file may belong to anyone by now).
ours() {
  local pid
  pid=$(head -n1 "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$dir/" && echo "$pid"
}

stop_pid() { # PIDFILE
  local pid
  if pid=$(ours "$1"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$1"
}

stop() {
  stop_pid "$dir/keystone.pid"
  stop_pid "$dir/keystone-short.pid"
  stop_pid "$dir/my/pid"
}

reap() {
  local d owner
  for d in /tmp/neutrino-keystone.*; do
    [ -f "$d/owner" ] || continue # not made by scripts/test.sh: not ours to judge
    owner=$(cat "$d/owner")
    if [ -n "$owner" ] && tr '\0' ' ' 2>/dev/null <"/proc/$owner/cmdline" | grep -q 'scripts/test.sh'; then
      continue # its run is still going
    fi
    echo "keystone.sh: stopping the Keystone of a finished run in $d" >&2
    dir=$d stop
    rm -rf "$d"
  done
}

case $cmd in
  start) [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start ;;
  stop) [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop ;;
  reap) reap ;;
  *) echo "usage: $0 start|stop DIR, or $0 reap" >&2; exit 2 ;;
esac
