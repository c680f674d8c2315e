#!/usr/bin/env bash
# Hosts for the multi-host tests, as network namespaces on one machine: asm-db (10.231.0.1)
# and asm-h1..asm-h3 (10.231.0.11..13), each with lo and an eth0 on 10.231.0.0/24. Every eth0
# is a veth pair whose other end sits on the bridge br0 in a namespace of its own, asm-net,
# so no firewall or route of the machine's own network is involved. The root namespace joins
# the bridge too, as asm-root at 10.231.0.254, so a test driver outside the namespaces can reach
# servers inside them. The namespaces have no route beyond the /24: nothing in or out.
#
#   Scripts/netns_hosts.sh up              # (re)create the namespaces
#   Scripts/netns_hosts.sh down            # remove them; fine if absent
#   Scripts/netns_hosts.sh pg-start DIR    # PostgreSQL inside asm-db; prints export lines
#   Scripts/netns_hosts.sh pg-stop DIR     # stop it and remove DIR
#
#   ip netns exec asm-h1 psql "postgresql://asm:asm-test-password@10.231.0.1:5432/asm_test"
#
# pg-start is Scripts/pg_cluster.sh with the server in asm-db on 10.231.0.1:5432 (password,
# scram-sha-256, from 10.231.0.0/24) besides its unix socket in DIR/sock, which the root
# namespace reaches too. ASM_NETNS_HOSTS (1-9, default 3) sets how many asm-hN `up` makes.
# Without the rights to make namespaces (root: CAP_NET_ADMIN, CAP_SYS_ADMIN) or without `ip`,
# it exits 77, the automake code for "skipped", with a one-line message.
set -euo pipefail
export LC_ALL=C

readonly SUBNET=10.231.0 BRIDGE_NS=asm-net DB_NS=asm-db PG_PORT=5432 ROOT_LINK=asm-root
readonly HOSTS=${ASM_NETNS_HOSTS:-3}

die() { echo "netns_hosts: $*" >&2; exit 1; }
skip() { echo "netns_hosts: skipped: $*" >&2; exit 77; }
usage() {
    grep '^#   Scripts/' "$0" | sed 's/^#   //' >&2
    exit 2
}

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f s", b - a }'; }

exists() { [ -e "/run/netns/$1" ]; }

# Every namespace this script may have made, bridge last.
all_namespaces() {
    local i
    echo "$DB_NS"
    for i in 1 2 3 4 5 6 7 8 9; do echo "asm-h$i"; done
    echo "$BRIDGE_NS"
}

need_rights() {
    command -v ip >/dev/null 2>&1 || skip "no ip command (Debian: apt-get install iproute2)"
    [ "$(id -u)" -eq 0 ] || skip "network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
}

cmd_down() {
    local ns pids busy=""
    for ns in $(all_namespaces); do
        exists "$ns" || continue
        need_rights
        pids=$(ip netns pids "$ns" | tr '\n' ' ')
        [ -z "$pids" ] || busy+=" $ns (pids ${pids% })"
    done
    [ -z "$busy" ] || die "processes still run in:$busy; stop them first ('$0 pg-stop DIR' for the cluster)"
    for ns in $(all_namespaces); do
        if exists "$ns"; then ip netns delete "$ns"; fi
    done
    # Normally gone already: deleting asm-net deletes its peer, and a veth goes with its peer.
    if ip link show "$ROOT_LINK" >/dev/null 2>&1; then ip link delete "$ROOT_LINK"; fi
}

# Runs one step of `up`; if it fails, removes what was made and skips.
step() {
    local err
    err=$("$@" 2>&1) && return 0
    (cmd_down) >/dev/null 2>&1 || true
    skip "cannot build the namespaces ($*): ${err//$'\n'/ }"
}

# One host: namespace NAME with eth0 at ADDRESS, its peer PORT on the bridge.
add_host() {
    local name=$1 port=$2 address=$3
    step ip netns add "$name"
    step ip -n "$BRIDGE_NS" link add "$port" type veth peer name eth0 netns "$name"
    step ip -n "$BRIDGE_NS" link set "$port" master br0 up
    step ip -n "$name" link set lo up
    step ip -n "$name" addr add "$address/24" dev eth0
    step ip -n "$name" link set eth0 up
}

cmd_up() {
    need_rights
    case $HOSTS in [1-9]) ;; *) die "ASM_NETNS_HOSTS must be 1-9, not $HOSTS" ;; esac
    cmd_down
    local t i
    if [ -n "$(ip -o -4 addr show to "$SUBNET.0/24")" ]; then
        die "$SUBNET.0/24 is already in use here: $(ip -o -4 addr show to "$SUBNET.0/24" | awk '{ print $2, $4 }' | tr '\n' ' ')"
    fi
    t=$(now)
    step ip netns add "$BRIDGE_NS"
    step ip -n "$BRIDGE_NS" link set lo up
    step ip -n "$BRIDGE_NS" link add br0 type bridge
    step ip -n "$BRIDGE_NS" link set br0 up
    add_host "$DB_NS" db "$SUBNET.1"
    for ((i = 1; i <= HOSTS; i++)); do add_host "asm-h$i" "h$i" "$SUBNET.$((10 + i))"; done
    step ip link add "$ROOT_LINK" type veth peer name root netns "$BRIDGE_NS"
    step ip -n "$BRIDGE_NS" link set root master br0 up
    step ip addr add "$SUBNET.254/24" dev "$ROOT_LINK"
    step ip link set "$ROOT_LINK" up
    echo "netns_hosts: $DB_NS $SUBNET.1, asm-h1..asm-h$HOSTS $SUBNET.11..$((10 + HOSTS)), this namespace $SUBNET.254 up ($(since "$t"))" >&2
}

cmd_pg_start() {
    [ $# -eq 1 ] || usage
    need_rights
    exists "$DB_NS" || die "no namespace $DB_NS: run '$0 up' first"
    exec "$(dirname "$0")/pg_cluster.sh" start --netns "$DB_NS" --listen "$SUBNET.1" \
        --allow "$SUBNET.0/24" --port "$PG_PORT" "$1"
}

cmd_pg_stop() {
    [ $# -eq 1 ] || usage
    exec "$(dirname "$0")/pg_cluster.sh" stop "$1"
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    pg-start) shift; cmd_pg_start "$@" ;;
    pg-stop) shift; cmd_pg_stop "$@" ;;
    *) usage ;;
esac
