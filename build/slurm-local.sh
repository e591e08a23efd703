#!/usr/bin/env bash
# build/slurm-local.sh: a real one-node SLURM cluster on this machine, for tests and CI (docs/cluster.md).
#
# Usage (as root, on Debian 12 or a machine that already has slurm-wlm and munge):
#   bash build/slurm-local.sh          start the cluster (or just check it when it is already up)
#   bash build/slurm-local.sh --stop   stop slurmd, slurmctld and munged
#
# What it does, in order:
#   1. installs the Debian packages slurm-wlm and munge with apt-get when slurmctld, slurmd or munged is missing
#      (DEBIAN_FRONTEND=noninteractive, quiet; 11 s measured here, plus `apt-get update` when the lists are stale);
#   2. creates /etc/munge/munge.key (1024 random bytes, munge:munge, mode 0400) when there is none (Debian's munge
#      package usually creates one),
#      and starts munged as the munge user unless `munge -n | unmunge` already works;
#   3. writes /etc/slurm/slurm.conf for ONE node: NodeName=$(hostname -s), CPUs=$(nproc), RealMemory=8000 MB
#      (less when the machine has less), one default partition "debug"; state and spool under /var/spool/slurmctld
#      and /var/spool/slurmd, logs under /var/log/slurm. No cgroup.conf: proctrack/linuxproc and task/none need none.
#      It refuses (exit 2) to replace a slurm.conf it did not write (a real cluster's) unless SLURM_LOCAL_FORCE=1.
#      No accounting database: AccountingStorageType=accounting_storage/none, so plain `sacct` says "accounting
#      storage is disabled"; finished jobs are written one line each to /var/log/slurm/jobcomp.log
#      (JobCompType=jobcomp/filetxt, read by `sacct -c`) and stay in `scontrol show job` for MinJobAge (300 s);
#   4. starts slurmctld and slurmd (both run as root: SlurmUser=root) unless both run and `scontrol ping` says UP
#      with this configuration; when slurm.conf changed, restarts them;
#   5. waits (at most SLURM_LOCAL_WAIT_S seconds, default 60) until `sinfo -h -o %T` says the node is idle (or busy:
#      mixed/allocated, when a second call meets running jobs), resuming it once when it is down or drained,
#      then prints one line:
#        [slurm] ready: <node> <cpus> CPUs, partition <partition>
# It is idempotent: a second call with the daemons up only checks and prints the ready line.
# Errors: not root and something is missing -> exit 2 with the command to run; the node not idle in time or a daemon
# that does not start -> the tail of the daemons' logs and exit 1.
set -uo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
PARTITION=debug
WAIT_S=${SLURM_LOCAL_WAIT_S:-60}

say() { echo "[slurm] $*"; }
die() { say "error: $*" >&2; show_logs >&2; exit 1; }
show_logs() {
  for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" /var/log/munge/munged.log; do
    [ -f "$f" ] && { echo "----- tail $f"; tail -n 25 "$f"; }
  done
}
running() { pgrep -x "$1" >/dev/null 2>&1; }
# Stop one daemon by the pid in its pid file (or, failing that, the pid pgrep finds for that exact name), then wait.
stop_daemon() {
  local name=$1 pidfile=$2 pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || pid=$(pgrep -x "$name" | head -n 1)
  [ -z "$pid" ] && return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }; sleep 0.2; done
  say "$name (pid $pid) did not stop in 10 s" >&2
  return 1
}

if [ "${1:-}" = "--stop" ]; then
  stop_daemon slurmd /run/slurmd.pid
  stop_daemon slurmctld /run/slurmctld.pid
  stop_daemon munged /run/munge/munged.pid
  say "stopped"
  exit 0
elif [ $# -gt 0 ]; then
  echo "usage: bash build/slurm-local.sh [--stop]" >&2
  exit 2
fi

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    say "slurm-wlm/munge are not installed and this is not root: run  sudo bash build/slurm-local.sh" >&2
    exit 2
  fi
  t=$(date +%s)
  say "installing slurm-wlm munge"
  export DEBIAN_FRONTEND=noninteractive
  # The package scripts try to start services; with no init system that fails harmlessly (we start them below).
  { apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }; } \
    || { say "error: apt-get install slurm-wlm munge failed" >&2; exit 1; }
  say "installed in $(( $(date +%s) - t ))s"
fi
if [ "$(id -u)" != 0 ]; then
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    say "ready: $(sinfo -h -o '%n %c' | head -n 1 | awk '{print $1" "$2}') CPUs, partition $PARTITION (not root: only checked)"
    exit 0
  fi
  say "the cluster is not up and this is not root: run  sudo bash build/slurm-local.sh" >&2
  exit 2
fi

# 2. munge.
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
chown munge:munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null
chmod 0700 /var/lib/munge /var/log/munge; chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none || die "cannot write /etc/munge/munge.key"
  say "created /etc/munge/munge.key"
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  running munged && stop_daemon munged /run/munge/munged.pid
  runuser -u munge -- munged || die "munged did not start"
  for _ in $(seq 1 25); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null 2>&1 || die "munge -n | unmunge fails: munged is not answering"
fi

# 3. slurm.conf.
node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mem=8000; [ "$mem_mb" -lt "$real_mem" ] && real_mem=$(( mem_mb * 9 / 10 ))
mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
want=$(cat <<EOF
# Written by build/slurm-local.sh: a one-node test cluster (docs/cluster.md). Rewritten when it differs.
ClusterName=spatialclaw-local
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
NodeName=$node CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
# Never overwrite a slurm.conf this script did not write (a real cluster's), unless told to.
if [ -s "$CONF" ] && ! head -n 1 "$CONF" | grep -q '^# Written by build/slurm-local.sh' && [ -z "${SLURM_LOCAL_FORCE:-}" ]; then
  say "error: $CONF exists and was not written by this script; move it away or set SLURM_LOCAL_FORCE=1" >&2
  exit 2
fi
changed=0
if [ "$(cat "$CONF" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" >"$CONF" || die "cannot write $CONF"
  changed=1
fi

# 4. Daemons.
up() { running slurmctld && running slurmd && scontrol ping 2>/dev/null | grep -q 'is UP'; }
if [ "$changed" = 1 ] || ! up; then
  [ "$changed" = 1 ] && running slurmctld && say "slurm.conf changed: restarting"
  stop_daemon slurmd /run/slurmd.pid
  stop_daemon slurmctld /run/slurmctld.pid
  slurmctld || die "slurmctld did not start"
  for _ in $(seq 1 50); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
  slurmd || die "slurmd did not start"
fi

# 5. Wait for the node to be idle.
deadline=$(( $(date +%s) + WAIT_S ))
resumed=0
while :; do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1)
  case "$state" in
    idle|mixed|allocated|completing) break ;;  # up; busy only when jobs run (a second call during tests)
    down*|drain*|fail*)
      if [ "$resumed" = 0 ]; then
        scontrol update NodeName="$node" State=RESUME 2>/dev/null
        resumed=1
      fi ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    reason=$(sinfo -h -n "$node" -o %E 2>/dev/null | head -n 1)
    die "node $node is '${state:-unknown}' after ${WAIT_S}s, not idle (reason: ${reason:-none})"
  fi
  sleep 0.5
done
say "ready: $node $cpus CPUs, partition $PARTITION"
