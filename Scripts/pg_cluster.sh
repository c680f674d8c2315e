#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for the tests. One directory holds everything
# (data/, sock/, server.log); the server listens on a unix socket in DIR/sock only (or, with
# --listen, also on one TCP address with SCRAM passwords), and `stop` removes the directory.
#
#   Scripts/pg_cluster.sh start [--port N] [--listen ADDR [--allow CIDR]] [--netns NS] DIR
#   Scripts/pg_cluster.sh env DIR     # the export lines of the running cluster, again
#   Scripts/pg_cluster.sh restart DIR # fast shutdown and start again (its clients see it go)
#   Scripts/pg_cluster.sh stop DIR    # fast stop, then rm -rf DIR; fine if already stopped
#
#   eval "$(Scripts/pg_cluster.sh start /tmp/asm-pg)"    # sets ASM_TEST_POSTGRES
#
# Role `asm` (LOGIN CREATEDB, password asm-test-password) owns database `asm_test`; the unix
# socket trusts every local connection, TCP (--listen) asks for the password (scram-sha-256)
# from --allow (default: the listen address alone). --netns runs the server inside that
# network namespace (Scripts/netns_hosts.sh pg-start). fsync and synchronous_commit are on.
#
# initdb refuses to run as root, so root runs the server as `postgres` (or $PG_CLUSTER_USER),
# creating a system user `asm-pg` when there is no `postgres`; anyone else runs it as themselves.
# Port: --port, else $PGPORT, else 54329. Binaries: $PG_BINDIR, else the newest Debian
# /usr/lib/postgresql/*/bin, else initdb on PATH. stdout carries only the export lines.
set -euo pipefail
export LC_ALL=C

readonly ROLE=asm PASSWORD=asm-test-password DATABASE=asm_test
readonly MARKER=.pg_cluster # in DIR: this script made it, so `stop` may remove it

die() { echo "pg_cluster: $*" >&2; exit 1; }
note() { echo "pg_cluster: $*" >&2; }
usage() {
    grep '^#   Scripts/' "$0" | sed 's/^#   //' >&2
    exit 2
}

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f s", b - a }'; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# The directory holding initdb, pg_ctl, psql.
find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/initdb" ] || die "no initdb in PG_BINDIR=$PG_BINDIR"
        echo "$PG_BINDIR"
        return
    fi
    local newest
    newest=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    if [ -x "$newest" ]; then
        dirname "$newest"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    else
        die "PostgreSQL server binaries not found (Debian: apt-get install postgresql; or set PG_BINDIR)"
    fi
}

# The unprivileged user that owns and runs the cluster (created if missing).
server_user() {
    if ! is_root; then
        id -un
        return
    fi
    local user=${PG_CLUSTER_USER:-}
    if [ -z "$user" ]; then
        if id postgres >/dev/null 2>&1; then user=postgres; else user=asm-pg; fi
    fi
    if ! id "$user" >/dev/null 2>&1; then
        note "creating system user $user"
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin "$user" >&2 || die "could not create user $user"
    fi
    id -un "$user"
}

# Runs a command as the cluster's user, inside $NETNS when set.
as_server() {
    local prefix=()
    [ -z "${NETNS:-}" ] || prefix=(ip netns exec "$NETNS")
    if is_root; then
        "${prefix[@]}" runuser -u "$PG_USER" -- "$@"
    else
        "${prefix[@]}" "$@"
    fi
}

# Whether DIR's cluster has a live postmaster.
running() {
    [ -f "$DIR/data/postmaster.pid" ] && as_server "$BINDIR/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1 &&
        [ "$(postmaster_state)" != Z ]
}

# The state letter of DIR's postmaster in /proc (Z: killed, not yet reaped by its parent).
postmaster_state() {
    local pid
    pid=$(head -n 1 "$DIR/data/postmaster.pid" 2>/dev/null) || return 0
    sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d ' ' -f 1
}

# Percent-encodes a path for a URL query value.
urlencode() {
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9/._~-]) out+=$c ;;
            *) printf -v c '%%%02X' "'$c"; out+=$c ;;
        esac
    done
    printf '%s' "$out"
}

resolve_dir() {
    [ -n "${1:-}" ] || usage
    DIR=$(realpath -m -- "$1")
    case $DIR in
        / | "${HOME:-/}" | /tmp | /root | /home) die "refusing to use $DIR as a cluster directory" ;;
        *"'"* | *$'\n'* | *'\'*) die "the directory's path may not contain quotes, backslashes or newlines: $DIR" ;;
    esac
    cd / # the server's user may not be allowed into the caller's working directory
}

cmd_start() {
    local port=${PGPORT:-54329} listen="" allow=""
    NETNS=""
    while [ $# -gt 1 ]; do
        case $1 in
            --port) port=$2; shift 2 ;;
            --listen) listen=$2; shift 2 ;;
            --allow) allow=$2; shift 2 ;;
            --netns) NETNS=$2; shift 2 ;;
            *) usage ;;
        esac
    done
    [ $# -eq 1 ] || usage
    case $port in '' | *[!0-9]*) die "bad port: $port" ;; esac
    case $listen in *[!0-9A-Fa-f.:]*) die "--listen takes one IP address: $listen" ;; esac
    case $allow in *[!0-9A-Fa-f.:/]*) die "--allow takes one address/prefix: $allow" ;; esac
    if [ -n "$listen" ] && [ -z "$allow" ]; then
        case $listen in *:*) allow=$listen/128 ;; *) allow=$listen/32 ;; esac
    fi
    if [ -n "$NETNS" ]; then
        is_root || die "--netns needs root"
        [ -e "/run/netns/$NETNS" ] || die "no network namespace $NETNS"
    fi
    resolve_dir "$1"

    if [ -e "$DIR" ]; then
        [ -d "$DIR" ] || die "$DIR exists and is not a directory"
        if [ ! -e "$DIR/$MARKER" ] && [ -n "$(ls -A "$DIR")" ]; then
            die "$DIR is neither empty nor a pg_cluster.sh directory; refusing to use it"
        fi
    fi
    BINDIR=$(find_bindir)
    PG_USER=$(server_user)
    if [ -d "$DIR" ] && running; then
        die "a cluster is already running in $DIR (pid $(head -n 1 "$DIR/data/postmaster.pid")):" \
            "'$0 env $DIR' prints its variables, '$0 stop $DIR' stops it"
    fi
    local sock=$DIR/sock
    # sun_path holds 107 bytes: sock/.s.PGSQL.PORT must fit.
    if [ $((${#sock} + 10 + ${#port})) -gt 107 ]; then
        die "socket path too long (unix sockets allow 107 bytes): $sock/.s.PGSQL.$port; use a shorter DIR"
    fi

    local t0 t
    t0=$(now)
    mkdir -p "$sock"
    touch "$DIR/$MARKER"
    chmod 700 "$DIR"
    if is_root; then chown "$PG_USER:" "$DIR" "$sock"; fi
    as_server test -w "$DIR" -a -x "$sock" ||
        die "user $PG_USER cannot use $DIR (a parent directory closed to it?); use a directory under /tmp"

    local initdb_took="(existing data)"
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        t=$(now)
        as_server "$BINDIR/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
            >"$DIR/initdb.log" 2>&1 || { tail -n 20 "$DIR/initdb.log" >&2; die "initdb failed (see $DIR/initdb.log)"; }
        echo "include 'pg_cluster.conf'" >>"$DIR/data/postgresql.conf"
        initdb_took=$(since "$t")
    fi

    # Settings and access, rewritten at every start (the flags may differ from the last one).
    cat >"$DIR/data/pg_cluster.conf" <<EOF
# Written by Scripts/pg_cluster.sh at every start.
port = $port
listen_addresses = '$listen'
unix_socket_directories = '$sock'
max_connections = 200
fsync = on
synchronous_commit = on
password_encryption = 'scram-sha-256'
EOF
    {
        echo "# Written by Scripts/pg_cluster.sh at every start."
        echo "# TYPE DATABASE USER ADDRESS METHOD"
        echo "local all all trust"
        [ -z "$listen" ] || echo "host all all $allow scram-sha-256"
    } >"$DIR/data/pg_hba.conf"
    if is_root; then chown "$PG_USER:" "$DIR/data/pg_cluster.conf" "$DIR/data/pg_hba.conf"; fi

    t=$(now)
    as_server "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$DIR/server.log" >&2; die "the server did not start (see $DIR/server.log)"; }
    local start_took
    start_took=$(since "$t")

    t=$(now)
    if ! "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres >&2 <<EOF; then
SELECT 'CREATE ROLE $ROLE' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')\gexec
ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD';
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE')\gexec
EOF
        as_server "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null || true
        die "could not create role $ROLE and database $DATABASE; the server was stopped"
    fi
    local roles_took
    roles_took=$(since "$t")

    {
        echo "export ASM_TEST_POSTGRES='postgresql:///$DATABASE?host=$(urlencode "$sock")&port=$port&user=$ROLE'"
        if [ -n "$listen" ]; then
            local host=$listen
            case $host in *:*) host="[$host]" ;; esac
            echo "export ASM_TEST_POSTGRES_TCP='postgresql://$ROLE:$PASSWORD@$host:$port/$DATABASE'"
        fi
    } >"$DIR/pg_cluster.env"
    printf '%s\n' "$NETNS" >"$DIR/netns"
    cat "$DIR/pg_cluster.env"
    note "PostgreSQL $("$BINDIR/postgres" -V | awk '{ print $3 }') running as $PG_USER in $DIR" \
        "(socket${listen:+, $listen:$port}${NETNS:+ in netns $NETNS}): $(since "$t0")" \
        "(initdb $initdb_took, start $start_took, role and database $roles_took)"
}

cmd_env() {
    [ $# -eq 1 ] || usage
    resolve_dir "$1"
    [ -f "$DIR/pg_cluster.env" ] || die "no pg_cluster.sh cluster in $DIR"
    BINDIR=$(find_bindir)
    PG_USER=$(stat -c %U "$DIR/data")
    NETNS=""
    running || die "the cluster in $DIR is not running"
    cat "$DIR/pg_cluster.env"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    resolve_dir "$1"
    [ -e "$DIR" ] || return 0
    [ -d "$DIR" ] || die "$DIR is not a directory"
    if [ -z "$(ls -A "$DIR")" ]; then
        rmdir "$DIR"
        return 0
    fi
    [ -e "$DIR/$MARKER" ] || die "$DIR is not a pg_cluster.sh directory; not removing it"
    if [ -f "$DIR/data/postmaster.pid" ]; then
        BINDIR=$(find_bindir)
        PG_USER=$(stat -c %U "$DIR/data")
        NETNS=""
        local status=0
        as_server "$BINDIR/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1 || status=$?
        # A killed postmaster its parent has not reaped yet still passes pg_ctl's kill(pid, 0).
        if [ "$status" -eq 0 ] && [ "$(postmaster_state)" = Z ]; then status=3; fi
        case $status in
            0 | 3) ;; # running | not running (a stale pid file)
            *) die "cannot tell whether the server in $DIR runs (pg_ctl status: $status); not removing it" ;;
        esac
        if [ "$status" -eq 0 ]; then
            local t
            t=$(now)
            as_server "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null ||
                as_server "$BINDIR/pg_ctl" -D "$DIR/data" -m immediate -w -t 60 stop >/dev/null ||
                die "could not stop the server in $DIR; not removing it"
            note "stopped the server in $DIR ($(since "$t"))"
        fi
    fi
    rm -rf -- "$DIR"
}

cmd_restart() {
    [ $# -eq 1 ] || usage
    resolve_dir "$1"
    [ -f "$DIR/pg_cluster.env" ] || die "no pg_cluster.sh cluster in $DIR"
    BINDIR=$(find_bindir)
    PG_USER=$(stat -c %U "$DIR/data")
    NETNS=$(cat "$DIR/netns" 2>/dev/null || true)
    running || die "the cluster in $DIR is not running"
    local t
    t=$(now)
    as_server "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -m fast -w -t 60 restart >/dev/null ||
        { tail -n 20 "$DIR/server.log" >&2; die "the server did not restart (see $DIR/server.log)"; }
    note "restarted the server in $DIR ($(since "$t"))"
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    restart) shift; cmd_restart "$@" ;;
    env) shift; cmd_env "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) usage ;;
esac
