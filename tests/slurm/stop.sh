#!/usr/bin/env bash
# Stop the test cluster of tests/slurm/start.sh: its slurmd and slurmctld, by their pid files
# (munged is left running: other software on the machine may use it).
set -uo pipefail
DIR=${LPLR_SLURM_DIR:-/tmp/lplr-slurm-$(id -u)}
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
for daemon in slurmd slurmctld; do
  pidfile=$DIR/$daemon.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    "${SUDO[@]}" kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "stop.sh: $daemon ($pid) did not stop" >&2; exit 1; }
  fi
done
exit 0
