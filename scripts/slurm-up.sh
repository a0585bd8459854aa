#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine for the `slurm` tests (issue 17).
#
# munged + slurmctld + slurmd on localhost, all state under one folder (default
# /tmp/brainbench-slurm, or $BRAINBENCH_SLURM_DIR), accounting off. Installs Debian's slurm-wlm
# and munge when they are missing and we are root. Prints the slurm.conf path on its last line:
# export SLURM_CONF=<that path> before using sbatch/squeue/sinfo. scripts/slurm-down.sh stops
# exactly the daemons this script started (by the pids it recorded).
set -euo pipefail
STATE=${BRAINBENCH_SLURM_DIR:-/tmp/brainbench-slurm}
CONF="$STATE/slurm.conf"

die() { echo "slurm-up: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || die "slurm-wlm and munge are not installed and we are not root with apt-get; install them"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge \
    >/dev/null) || die "apt-get install slurm-wlm munge failed"
fi
[ "$(id -u)" = 0 ] || die "the daemons run as root here (SlurmUser=root); run as root"

if [ -f "$STATE/pids" ] && SLURM_CONF="$CONF" timeout 5 sinfo -h >/dev/null 2>&1; then
  echo "$CONF"; exit 0  # already up
fi
"$(dirname "$0")/slurm-down.sh" >/dev/null 2>&1 || true
rm -rf "$STATE"
mkdir -p "$STATE"/{munge,ctld,spool,log}
chmod 700 "$STATE/munge"
head -c 1024 /dev/urandom > "$STATE/munge/munge.key"
chmod 400 "$STATE/munge/munge.key"
SOCKET="$STATE/munge/munge.socket"

munged --force --key-file="$STATE/munge/munge.key" --socket="$SOCKET" \
  --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
  --seed-file="$STATE/munge/munged.seed"

# Free ports for this cluster, so a second cluster (or a system one) does not clash.
read -r CTLD_PORT SLURMD_PORT < <(python3 - <<'PY'
import socket
ports = []
socks = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s); ports.append(s.getsockname()[1])
print(*ports)
PY
)
NODE_LINE=$(slurmd -C | head -1)          # NodeName=<host> CPUs=... RealMemory=...
NODE=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$NODE_LINE")

cat > "$CONF" <<CONF
ClusterName=brainbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=300
KillWait=5
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$CONF"
slurmctld -f "$CONF"
slurmd -f "$CONF"
for _ in $(seq 1 60); do
  [ -s "$STATE/slurmctld.pid" ] && [ -s "$STATE/slurmd.pid" ] && break
  sleep 0.5
done
{ cat "$STATE/munge/munged.pid"; cat "$STATE/slurmctld.pid"; cat "$STATE/slurmd.pid"; } \
  > "$STATE/pids" 2>/dev/null || die "a daemon did not start; see $STATE/log/"
for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && { echo "$CONF"; exit 0; }
  sleep 0.5
done
die "the node did not become idle within 30 s (state: ${state:-none}); see $STATE/log/"
