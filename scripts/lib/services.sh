# shellcheck shell=bash
# Private PostgreSQL 15 and Redis instances for scripts/run and the API tests.
#
# Source this file; it defines functions only and changes no shell options.
#
#   pg_start DIR PORT [MODE [OPTS]]
#                              initdb DIR/data if needed, start on 127.0.0.1:PORT
#                              (log in DIR/log; unix socket in DIR/sock when
#                              that path can be one, see _pg_sock_opt);
#                              MODE "test" adds fsync=off and friends ('' for
#                              none); OPTS: more server options ("-c k=v ...")
#   pg_pid DIR                 print the postmaster's pid (from postmaster.pid)
#   pg_replica_create PRIMARY_PORT DIR ROLE
#                              pg_basebackup -R of the primary on 127.0.0.1:
#                              PRIMARY_PORT into DIR/data as ROLE (password from
#                              $PGPASSWORD), unless DIR/data holds a cluster;
#                              start it with pg_start DIR PORT
#   pg_replica_point DIR PRIMARY_PORT
#                              make the (stopped) replica in DIR stream from
#                              127.0.0.1:PRIMARY_PORT (edits primary_conninfo)
#   pg_cluster_dir CLONE       the directory of scripts/cluster's primary/ and
#                              replica/ for the clone at CLONE
#   pg_stop DIR                fast shutdown; no-op when not running
#   pg_running DIR             true when the cluster in DIR/data is running
#   pg_createdb PORT NAME      CREATE DATABASE NAME unless it exists
#   pg_psql PORT DB [ARGS...]  psql as postgres over TCP to 127.0.0.1:PORT
#   pg_clone_dir CLONE         print the cluster directory scripts/run uses for
#                              the clone at CLONE (see the function)
#   redis_start DIR PORT       redis-server on 127.0.0.1:PORT, pid in DIR/redis.pid
#   redis_stop DIR             stop it (SIGTERM, bounded wait, then SIGKILL)
#   free_port                  print a TCP port that is free on 127.0.0.1
#   port_free PORT             true when PORT can be bound on 127.0.0.1
#   pid_running PID            true while PID exists and is not a zombie
#   pid_alive PIDFILE [NAME]   print the pid in PIDFILE when that process runs
#                              (and its command name is NAME, when given)
#   pid_stop PIDFILE [NAME [SECONDS]]
#                              SIGTERM the process of PIDFILE, wait up to
#                              SECONDS (default 10), then SIGKILL; removes the
#                              file; no-op when it is not running
#   as_pg_user CMD...          run CMD as the postgres user when we are root
#
# Starting something that already runs is a no-op. Every wait is bounded.
# Functions return non-zero (with a message on stderr) on failure.
# Directories may contain spaces.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SERVICES_PY=${SERVICES_PY:-/usr/bin/python3}

_svc_err() { echo "services: $*" >&2; }

# initdb, pg_ctl and postgres refuse to run as root: as root run them as the
# "postgres" system user (the Debian package creates it), otherwise as ourselves.
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  "$SERVICES_PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

port_free() {
  "$SERVICES_PY" -c 'import socket, sys
s = socket.socket()
# As servers do: a port whose old connections linger in TIME_WAIT is free.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1"
}

_abs_dir() { (cd "$1" && pwd -P); }

# True while process $1 exists and is not a zombie (an exited daemon whose new
# parent has not reaped it yet is gone for our purposes).
pid_running() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

pid_alive() {
  local pidfile=$1 name=${2:-} pid comm
  [ -f "$pidfile" ] || return 1
  pid=$(head -n 1 "$pidfile" 2>/dev/null) || return 1
  case $pid in ''|*[!0-9]*) return 1 ;; esac
  pid_running "$pid" || return 1
  if [ -n "$name" ]; then
    # A pid file left from before a reboot may name somebody else's process.
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    case $comm in "$name"*) ;; *) return 1 ;; esac
  fi
  echo "$pid"
}

pid_stop() {
  local pidfile=$1 name=${2:-} limit=${3:-10} pid i
  pid=$(pid_alive "$pidfile" "$name") || { rm -f "$pidfile"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < limit * 10; i++)); do
    pid_running "$pid" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  _svc_err "${name:-process} (pid $pid) ignored SIGTERM for $limit s; killing it"
  kill -KILL "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    pid_running "$pid" || break
    sleep 0.1
  done
  rm -f "$pidfile"
}

# The postgres user's home (Debian: /var/lib/postgresql).
_pg_home() {
  local home
  home=$(getent passwd postgres | cut -d: -f6)
  [ -n "$home" ] && [ -d "$home" ] || home=/var/lib/postgresql
  echo "$home"
}

# Where scripts/run keeps the PostgreSQL cluster of the clone at $1:
#  - $DELIVERYD_PG_DIR when set;
#  - CLONE/var/pg when we are not root (PostgreSQL runs as ourselves), or when
#    CLONE/var/pg already holds a cluster (one made by an earlier scripts/run);
#  - as root, <postgres home>/deliveryd/<first 12 hex digits of the sha256 of
#    the clone's physical path>: PostgreSQL runs as the postgres user, which
#    cannot reach a clone in a closed directory such as root's 0700 home, so its
#    data lives where that user can always write. The same clone always gets the
#    same directory (a second scripts/run and scripts/run stop find it); a moved
#    clone gets a new one.
pg_clone_dir() {
  local root hash
  if [ -n "${DELIVERYD_PG_DIR:-}" ]; then
    echo "$DELIVERYD_PG_DIR"; return 0
  fi
  root=$(_abs_dir "$1") || { _svc_err "pg_clone_dir: no directory '$1'"; return 1; }
  if [ "$(id -u)" -ne 0 ] || [ -f "$root/var/pg/data/PG_VERSION" ]; then
    echo "$root/var/pg"; return 0
  fi
  hash=$(printf '%s' "$root" | sha256sum | cut -c1-12)
  echo "$(_pg_home)/deliveryd/$hash"
}

# Where scripts/cluster keeps its PostgreSQL primary/ and replica/ for the clone
# at $1: $DELIVERYD_CLUSTER_PG_DIR when set; CLONE/var/cluster/pg when we are
# not root; as root <postgres home>/deliveryd/<hash>-cluster, <hash> as in
# pg_clone_dir (reachable by the postgres user wherever the clone is).
pg_cluster_dir() {
  local root hash
  if [ -n "${DELIVERYD_CLUSTER_PG_DIR:-}" ]; then
    echo "$DELIVERYD_CLUSTER_PG_DIR"; return 0
  fi
  root=$(_abs_dir "$1") || { _svc_err "pg_cluster_dir: no directory '$1'"; return 1; }
  if [ "$(id -u)" -ne 0 ]; then
    echo "$root/var/cluster/pg"; return 0
  fi
  hash=$(printf '%s' "$root" | sha256sum | cut -c1-12)
  echo "$(_pg_home)/deliveryd/$hash-cluster"
}

# The server options that place the unix socket in DIR/sock. A unix socket path
# is at most 107 bytes (DIR/sock/.s.PGSQL.PORT), and pg_ctl hands -o to
# /bin/sh while PostgreSQL splits the directory list at commas: when DIR/sock
# is too long or has anything but [A-Za-z0-9/._-] in it, there is no unix
# socket at all (every client here uses TCP on 127.0.0.1 anyway).
_pg_sock_opt() {
  local sock=$1/sock
  case $sock in
    *[!A-Za-z0-9/._-]*) echo "-c unix_socket_directories=''"; return 0 ;;
  esac
  if [ $((${#sock} + 15)) -gt 107 ]; then
    echo "-c unix_socket_directories=''"; return 0
  fi
  echo "-k $sock"
}

pg_running() {
  local dir
  dir=$(_abs_dir "$1" 2>/dev/null) || return 1
  [ -f "$dir/data/PG_VERSION" ] || return 1
  (cd "$dir" && as_pg_user "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1)
}

pg_start() {
  local dir=$1 port=$2 mode=${3:-} extra=${4:-}
  if [ -z "$dir" ] || [ -z "$port" ]; then
    _svc_err "usage: pg_start DIR PORT [MODE [OPTS]]"; return 2
  fi
  # umask 022: as root, parents we create must stay reachable by postgres.
  (umask 022 && mkdir -p "$dir") || return 1
  dir=$(_abs_dir "$dir") || return 1
  if pg_running "$dir"; then
    return 0
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir" || return 1
    if ! runuser -u postgres -- test -w "$dir"; then
      _svc_err "the postgres user cannot write $dir (is a parent directory closed to others?)"
      return 1
    fi
  fi
  # Run from DIR so the postgres user never starts in a directory it cannot enter.
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    if ! (cd "$dir" && as_pg_user "$PG_BIN/initdb" -D "$dir/data" --auth=trust -U postgres \
            --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1); then
      _svc_err "initdb failed for $dir/data:"; tail -n 20 "$dir/initdb.log" >&2; return 1
    fi
  fi
  local opts sockopt
  sockopt=$(_pg_sock_opt "$dir")
  if [ "${sockopt#-k }" != "$sockopt" ]; then
    (cd "$dir" && as_pg_user mkdir -p "$dir/sock") || return 1
  fi
  opts="-p $port $sockopt -c listen_addresses=127.0.0.1"
  if [ "$mode" = test ]; then
    # Throwaway test clusters: durability is not wanted, speed is.
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    # extra server options for a debugging run, e.g. auto_explain:
    # DELIVERYD_TEST_PG_OPTS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=2000"
    opts="$opts ${DELIVERYD_TEST_PG_OPTS:-}"
  fi
  [ -z "$extra" ] || opts="$opts $extra"
  if ! (cd "$dir" && as_pg_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
          -o "$opts" start >/dev/null 2>&1); then
    _svc_err "PostgreSQL did not start on 127.0.0.1:$port (data $dir/data); last log lines:"
    tail -n 20 "$dir/log" >&2 2>/dev/null
    return 1
  fi
}

pg_stop() {
  local dir=$1
  dir=$(_abs_dir "$dir" 2>/dev/null) || return 0
  pg_running "$dir" || return 0
  if ! (cd "$dir" && as_pg_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1); then
    _svc_err "PostgreSQL in $dir/data did not stop within 60 s"; return 1
  fi
}

pg_pid() {
  local dir pid
  dir=$(_abs_dir "$1" 2>/dev/null) || return 1
  pg_running "$dir" || return 1
  pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && echo "$pid"
}

pg_replica_create() {
  local port=$1 dir=$2 role=$3
  if [ -z "$port" ] || [ -z "$dir" ] || [ -z "$role" ]; then
    _svc_err "usage: pg_replica_create PRIMARY_PORT DIR ROLE"; return 2
  fi
  (umask 022 && mkdir -p "$dir") || return 1
  dir=$(_abs_dir "$dir") || return 1
  [ -f "$dir/data/PG_VERSION" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir" || return 1
  fi
  rm -rf "$dir/data.tmp"
  # -R writes standby.signal and primary_conninfo (with the password, inside
  # the 0700 data directory); -X stream copies the WAL needed to start.
  if ! (cd "$dir" && as_pg_user "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U "$role" \
          -D "$dir/data.tmp" -R -X stream -c fast --no-password >"$dir/basebackup.log" 2>&1); then
    _svc_err "pg_basebackup from 127.0.0.1:$port as $role failed:"; tail -n 20 "$dir/basebackup.log" >&2
    rm -rf "$dir/data.tmp"
    return 1
  fi
  mv "$dir/data.tmp" "$dir/data"
}

pg_replica_point() {
  local dir=$1 port=$2 conf
  conf=$1/data/postgresql.auto.conf
  [ -f "$conf" ] || { _svc_err "pg_replica_point: no $conf"; return 1; }
  grep -q "^primary_conninfo = .* port=$port " "$conf" && return 0
  (cd "$dir" && as_pg_user sed -i "/^primary_conninfo = /s/ port=[0-9]*/ port=$port/" "$conf")
}

# psql as the superuser over TCP; extra arguments go to psql.
pg_psql() {
  local port=$1 db=$2; shift 2
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

pg_createdb() {
  local port=$1 name=$2 exists
  case $name in
    *[!a-z0-9_]*|'') _svc_err "pg_createdb: bad database name '$name'"; return 2 ;;
  esac
  exists=$(pg_psql "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'") || return 1
  [ "$exists" = 1 ] && return 0
  pg_psql "$port" postgres -c "CREATE DATABASE \"$name\"" >/dev/null
}

_redis_pid() {
  local pidfile=$1/redis.pid pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

redis_start() {
  local dir=$1 port=$2 i
  if [ -z "$dir" ] || [ -z "$port" ]; then
    _svc_err "usage: redis_start DIR PORT"; return 2
  fi
  mkdir -p "$dir" || return 1
  dir=$(_abs_dir "$dir") || return 1
  if _redis_pid "$dir" >/dev/null; then
    for ((i = 0; i < 50; i++)); do
      [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && return 0
      sleep 0.1
    done
    _svc_err "a redis-server from $dir is running (pid $(cat "$dir/redis.pid")) but does not answer on port $port"
    return 1
  fi
  rm -f "$dir/redis.pid"
  if ! redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --dir "$dir" >/dev/null 2>&1; then
    _svc_err "redis-server failed to start on 127.0.0.1:$port"; tail -n 20 "$dir/redis.log" >&2 2>/dev/null
    return 1
  fi
  for ((i = 0; i < 100; i++)); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      return 0
    fi
    sleep 0.1
  done
  _svc_err "Redis did not answer PING on 127.0.0.1:$port within 10 s; last log lines:"
  tail -n 20 "$dir/redis.log" >&2 2>/dev/null
  return 1
}

redis_stop() {
  local dir=$1 pid i
  dir=$(_abs_dir "$dir" 2>/dev/null) || return 0
  pid=$(_redis_pid "$dir") || { rm -f "$dir/redis.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }
    sleep 0.1
  done
  _svc_err "Redis (pid $pid) ignored SIGTERM for 10 s; killing it"
  kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/redis.pid"
}
