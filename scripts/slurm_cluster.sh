#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for trying the slurm launcher and for its test.
#   scripts/slurm_cluster.sh start   # installs slurm-wlm + munge with apt if missing (root), starts the daemons
#   scripts/slurm_cluster.sh stop    # stops the daemons this script started
#   scripts/slurm_cluster.sh env     # prints the SLURM_CONF line to export
# State lives in $TASKEXPERT_SLURM_DIR (default /tmp/taskexpert-slurm). Accounting is off: submitit's
# sacct warnings are expected; jobs still run.
set -euo pipefail
STATE_DIR=${TASKEXPERT_SLURM_DIR:-/tmp/taskexpert-slurm}
CONF="$STATE_DIR/slurm.conf"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

install_if_missing() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then echo "slurm is not installed and installing it needs root" >&2; return 1; fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
  if pgrep -x munged >/dev/null; then return 0; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
  [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chmod 400 /etc/munge/munge.key; }
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  runuser -u munge -- munged --force
}

write_conf() {
  local host cpus
  host=$(hostname)
  cpus=$(nproc)
  mkdir -p "$STATE_DIR"/{state,spool,log}
  cat > "$CONF" <<CONF
ClusterName=taskexpert
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  install_if_missing
  start_munge
  stop_daemons quiet
  write_conf
  export SLURM_CONF="$CONF"
  slurmctld -c -f "$CONF"
  slurmd -c -f "$CONF"
  for _ in $(seq 1 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.5
  done
  echo "the node did not come up; see $STATE_DIR/log" >&2
  return 1
}

stop_daemons() {
  for name in slurmd slurmctld; do
    local pid_file="$STATE_DIR/$name.pid"
    if [ -f "$pid_file" ]; then
      kill "$(cat "$pid_file")" 2>/dev/null || true
      rm -f "$pid_file"
    fi
  done
  [ "${1:-}" = quiet ] || echo "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop_daemons ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
