#!/usr/bin/env bash
# Start or stop a Docker daemon for hosts without systemd (containers, CI).
# `start` is a no-op when a daemon answers. `stop` only stops a daemon that
# this script started (it keeps the pid in /run/churnlab-dockerd.pid).
set -euo pipefail
pidfile=/run/churnlab-dockerd.pid
log=/var/log/churnlab-dockerd.log

case "${1:-}" in
  start)
    if docker info >/dev/null 2>&1; then echo "==> Docker engine running"; exit 0; fi
    [ "$(id -u)" -eq 0 ] || { echo "dockerd.sh: starting dockerd needs root" >&2; exit 2; }
    if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
      :
    else
      echo "==> starting dockerd (log: $log)"
      setsid dockerd >"$log" 2>&1 < /dev/null &
      echo $! >"$pidfile"
    fi
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && { echo "==> Docker engine $(docker info --format '{{.ServerVersion}}') running"; exit 0; }
      sleep 1
    done
    echo "dockerd.sh: the daemon did not come up in 60 s; see $log" >&2
    tail -20 "$log" >&2 || true
    exit 1
    ;;
  stop)
    [ -f "$pidfile" ] || { echo "==> no dockerd started by this lab"; exit 0; }
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    echo "==> dockerd stopped"
    ;;
  *) echo "usage: dockerd.sh start|stop" >&2; exit 2 ;;
esac
