#!/usr/bin/env bash
# Chapter 10 on two "machines": two Linux network namespaces joined by a veth pair, so the ranks can
# reach each other only over TCP — the multi-machine path of Open MPI, not its shared-memory one.
# mpirun starts the far rank through `ip netns exec` where it would use ssh (plm_rsh_agent).
#
#   sudo bash Scripts/two-hosts.sh [ch10 flags…]      e.g. --steps 30 --batch-size 32
#
# Runs chapter 10 twice with the same flags — one host (mpirun -np 2, shared memory), then two hosts
# (10.77.0.1 and 10.77.0.2, TCP) — and prints each run's step time and communication share. Needs root
# (ip netns), Open MPI, and `swift build -c release --package-path Distributed` done first.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$PWD/Distributed/.build/release/ch10-distributed"
[ -x "$binary" ] || { echo "build chapter 10 first: swift build -c release --package-path Distributed" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root for ip netns (sudo bash $0)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/clip-two-hosts.XXXXXX)

cleanup() {
  ip netns del clip-host-a 2>/dev/null || true
  ip netns del clip-host-b 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for ns in clip-host-a clip-host-b; do
  if ip netns list | grep -qw "$ns"; then echo "network namespace $ns already exists: remove it (ip netns del $ns) or wait for the other run" >&2; trap - EXIT; exit 1; fi
done

# Two hosts and a cable.
ip netns add clip-host-a
ip netns add clip-host-b
ip link add clip-veth-a type veth peer name clip-veth-b
ip link set clip-veth-a netns clip-host-a
ip link set clip-veth-b netns clip-host-b
ip -n clip-host-a addr add 10.77.0.1/24 dev clip-veth-a
ip -n clip-host-b addr add 10.77.0.2/24 dev clip-veth-b
for ns in clip-host-a clip-host-b; do
  ip -n "$ns" link set lo up
done
ip -n clip-host-a link set clip-veth-a up
ip -n clip-host-b link set clip-veth-b up

# mpirun's "ssh": run the command inside the namespace that owns the address.
cat > "$work/agent.sh" <<'EOF'
#!/bin/sh
host="$1"; shift
case "$host" in
  10.77.0.1) ns=clip-host-a; cpu=0 ;;
  10.77.0.2) ns=clip-host-b; cpu=1 ;;
  *) echo "two-hosts agent: unknown host $host" >&2; exit 1 ;;
esac
# Each "machine" gets its own core, as two real ones would have.
exec ip netns exec "$ns" taskset -c "$cpu" sh -c "$*"
EOF
chmod +x "$work/agent.sh"
printf "10.77.0.1 slots=1\n10.77.0.2 slots=1\n" > "$work/hosts"

# Both runs read the same generated data (made once, by the first run's rank 0).
data="$work/data"
echo "== one host: mpirun -np 2 (shared memory)"
mpirun --oversubscribe -np 2 "$binary" --out "$work/one-host" "$@" | tee "$work/one-host.log" | grep -E "ms per step|^\[1/|global batch"
mv "$work/one-host/data" "$data"

echo "== two hosts: 10.77.0.1 and 10.77.0.2, TCP over a veth pair"
# Each host gets one core (the agent pins the far one, taskset this one): one kernel thread per rank, as
# in the one-host run. --bind-to none: Open MPI would otherwise bind both "hosts'" ranks to core 0.
ip netns exec clip-host-a taskset -c 0 mpirun --hostfile "$work/hosts" -np 2 --bind-to none \
  --mca plm_rsh_agent "$work/agent.sh" --mca btl tcp,self \
  --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM -x CLIP_THREADS=1 \
  "$binary" --out "$work/two-hosts" --data "$data" "$@" | tee "$work/two-hosts.log" | grep -E "ms per step|^\[1/|global batch"

echo "== the last loss, one host and two (the same data and arithmetic: they should agree)"
echo "one host:  $(grep -oE "[0-9]+/[0-9]+  loss [0-9.]+" "$work/one-host.log" | tail -1)"
echo "two hosts: $(grep -oE "[0-9]+/[0-9]+  loss [0-9.]+" "$work/two-hosts.log" | tail -1)"
