#!/bin/bash
# A fault mid-load on a LAB host (playbooks/load.yml, FAULT=...; the kinds,
# defaults and bounds are churnlab/faults/plan.py's). Run as root on the host the
# fault acts on:
#   churnlab-fault.sh timer KIND WHAT AT_EPOCH FOR_S OUT [SETTING [DELAY_MS TOWARD]]
#                                                          put it in place at AT_EPOCH, hold FOR_S, undo
#   churnlab-fault.sh undo  KIND WHAT                      stop a running timer (it undoes), undo again
#   churnlab-fault.sh check KIND WHAT                      print what is left broken, one line each
#   churnlab-fault.sh can-delay KIND WHAT TOWARD           one line why netem cannot delay this host's
#                                                          packets toward TOWARD; nothing where it can
# KIND       WHAT         in place                                     undone
# db-restart postgresql   systemctl stop of PostgreSQL's server unit   systemctl start
# db-pause   postgresql   SIGSTOP to every process of the unit         SIGCONT to every process
# pgbouncer-kill pgbouncer  SIGKILL to every process of the unit       systemctl start
# db-network-cut ADDRESS  ip route add unreachable ADDRESS/32          ip route del
# db-slow    postgresql   systemctl set-property --runtime of the unit   CPUQuota back to what it was (saved in
#                         CPUQuota=SETTING CPUs (as a percent)             $STATE before), empty where it had none
#                         with DELAY_MS: tc qdisc add dev <the interface   tc qdisc del dev <it> root: the kernel's
#                         toward TOWARD> root netem delay DELAY_MSms       default root qdisc again
#                         (only in place of a kernel default root qdisc:
#                         an owner's own is refused, as is loopback)
# db-lossy   ADDRESS      iptables: SETTING % of packets toward ADDRESS    the jump and the chain removed
#                         dropped, in the lab's own chain CHURNLAB-LOSSY
# The timer writes "started EPOCH", "ended EPOCH" and "error TEXT" lines to
# OUT; it undoes exactly once, at its time, or at once on TERM/INT/HUP (the
# load failed, or the play was stopped). `undo` is idempotent: it prints what
# it had to undo, nothing when nothing was left.
set -u
action=${1:?action} kind=${2:?kind} what=${3:?what} setting=${7:-} delay=${8:-} toward=${9:-}
# db-slow: the unit's CPU quota before it, to put back exactly; the interface netem was put on.
# (CHURNLAB_FAULT_STATE: a unit test's own folder; on a host, always /run's.)
STATE=${CHURNLAB_FAULT_STATE:-/run/churnlab-fault}
CHAIN=CHURNLAB-LOSSY
# The root qdiscs a kernel puts on an interface by itself: netem replaces only one of these.
KERNEL_QDISCS=" noqueue mq fq_codel pfifo_fast pfifo fq "

unit() {  # PostgreSQL's server unit is Debian's postgresql@<major>-<cluster>, not the umbrella postgresql.service
  if [ "$what" = postgresql ]; then
    systemctl list-units --all --plain --no-legend --type=service 'postgresql@*' | awk '{ print $1; exit }'
  else
    echo "$what.service"
  fi
}

pids() {  # every process of a unit, from its cgroup (v2, else v1's systemd hierarchy)
  local cg
  cg=$(systemctl show -p ControlGroup --value "$1")
  [ -n "$cg" ] || return 0
  cat "/sys/fs/cgroup$cg/cgroup.procs" 2>/dev/null || cat "/sys/fs/cgroup/systemd$cg/cgroup.procs" 2>/dev/null || true
}

stopped() {  # the unit's processes in state T (stopped by a signal)
  local pid
  for pid in $(pids "$1"); do
    case $(ps -o stat= -p "$pid" 2>/dev/null) in T*) echo "$pid" ;; esac
  done
}

quota() {  # the unit's CPU quota per second as systemd shows it: "infinity", "50ms", "1s 500ms"
  systemctl show -p CPUQuotaPerSecUSec --value "$1"
}

percent() {  # a CPUQuotaPerSecUSec as CPUQuota= takes it: "5.00%", or empty for "infinity"
  [ "$1" = infinity ] && return 0
  awk -v q="$1" 'BEGIN { n = split(q, parts, " "); us = 0
    for (i = 1; i <= n; i++) { v = parts[i] + 0; u = parts[i]; sub(/^[0-9.]+/, "", u)
      us += v * (u == "us" ? 1 : u == "ms" ? 1000 : u == "min" ? 60000000 : 1000000) }
    printf "%.2f%%", us / 10000 }'
}

jump() { iptables -w "$1" OUTPUT -d "$what/32" -j "$CHAIN"; }

toward_dev() {  # the interface this host sends to an address through
  ip -o route get "$1" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1
}

root_qdisc() {  # the kind of an interface's root qdisc ("noqueue" where tc shows none)
  local q
  q=$(tc qdisc show dev "$1" root 2>/dev/null | awk 'NR == 1 { print $2 }')
  echo "${q:-noqueue}"
}

cannot_delay() {  # one line why netem cannot delay this host's packets toward $1; nothing where it can
  local said dev q
  if ! command -v tc >/dev/null || ! command -v unshare >/dev/null; then
    echo "tc (iproute2) or unshare (util-linux) is not installed"; return
  fi
  # The kernel's own answer, from a throwaway network namespace (its loopback vanishes with it).
  if ! said=$(unshare --net tc qdisc add dev lo root netem delay 1ms 2>&1); then
    echo "the kernel has no netem qdisc (tc qdisc add ... netem: $(tail -n 1 <<<"$said" | sed 's/^Error: //; s/[.]$//'))"
    return
  fi
  dev=$(toward_dev "$1")
  if [ -z "$dev" ]; then
    echo "no route toward $1"
  elif [ "$dev" = lo ]; then
    echo "the route toward $1 is loopback (the app and the DB on one host): a delay there would slow every local connection"
  else
    q=$(root_qdisc "$dev")
    case $KERNEL_QDISCS in
      *" $q "*) ;;
      *) echo "the root qdisc on $dev is $q, the host's own (not a kernel default): it stays" ;;
    esac
  fi
}

netem_left() {  # the interface the lab put netem on, while netem is still its root qdisc; nothing otherwise
  local dev
  [ -f "$STATE/netem.dev" ] || return 0
  dev=$(cat "$STATE/netem.dev")
  [ "$(root_qdisc "$dev")" != netem ] || echo "$dev"
}

inject() {
  local u
  case $kind in
    db-slow)
      u=$(unit)
      mkdir -p "$STATE" && quota "$u" >"$STATE/$u.quota" || return 1
      systemctl set-property --runtime "$u" "CPUQuota=$(awk -v c="$setting" 'BEGIN { printf "%.2f%%", c * 100 }')" \
        || return 1
      if [ -n "$delay" ]; then
        local why dev
        why=$(cannot_delay "$toward")
        [ -z "$why" ] || { echo "no delay added: $why"; return 1; }
        dev=$(toward_dev "$toward")
        echo "$dev" >"$STATE/netem.dev" && tc qdisc add dev "$dev" root netem delay "${delay}ms"
      fi ;;
    db-lossy)
      iptables -w -N "$CHAIN" \
        && iptables -w -A "$CHAIN" -m statistic --mode random \
             --probability "$(awk -v p="$setting" 'BEGIN { printf "%.6f", p / 100 }')" -j DROP \
        && jump -I ;;
    db-restart) systemctl stop "$(unit)" ;;
    db-pause) systemctl kill --signal=SIGSTOP "$(unit)" ;;
    pgbouncer-kill) systemctl kill --signal=SIGKILL "$(unit)" ;;
    db-network-cut) ip route add unreachable "$what/32" ;;
    *) echo "unknown fault kind $kind"; return 2 ;;
  esac
}

undo() {  # idempotent: prints what it undid
  local u dev
  case $kind in
    db-restart | pgbouncer-kill)
      u=$(unit)
      if ! systemctl is-active --quiet "$u"; then
        systemctl start "$u" && echo "started $u"
      fi ;;
    db-pause)
      u=$(unit)
      if [ -n "$(stopped "$u")" ]; then
        systemctl kill --signal=SIGCONT "$u" && echo "continued $u"
      fi ;;
    db-network-cut)
      while ip route show "$what/32" | grep -q .; do
        ip route del "$what/32" || return 1
        echo "removed the route toward $what"
      done ;;
    db-slow)
      u=$(unit)
      if [ -f "$STATE/$u.quota" ] && [ "$(quota "$u")" != "$(cat "$STATE/$u.quota")" ]; then
        systemctl set-property --runtime "$u" "CPUQuota=$(percent "$(cat "$STATE/$u.quota")")" \
          && echo "put $u's CPU quota back to $(cat "$STATE/$u.quota")"
      fi
      dev=$(netem_left)
      if [ -n "$dev" ]; then
        tc qdisc del dev "$dev" root && echo "removed the netem delay on $dev"
      fi ;;
    db-lossy)
      command -v iptables >/dev/null || return 0
      while jump -C 2>/dev/null; do
        jump -D || return 1
        echo "removed the jump toward $CHAIN for $what"
      done
      if iptables -w -n -L "$CHAIN" >/dev/null 2>&1; then
        iptables -w -F "$CHAIN" && iptables -w -X "$CHAIN" && echo "removed the chain $CHAIN"
      fi ;;
  esac
}

check() {  # what is left broken, one line each
  local u state dev
  case $kind in
    db-restart | db-pause | pgbouncer-kill)
      u=$(unit)
      state=$(systemctl is-active "$u")
      [ "$state" = active ] || echo "$(hostname): $u is $state"
      [ -z "$(stopped "$u")" ] || echo "$(hostname): $u has processes stopped (state T): $(stopped "$u" | paste -sd,)" ;;
    db-network-cut)
      ! ip route show "$what/32" | grep -q . || echo "$(hostname): a route toward $what is still in place: $(ip route show "$what/32")" ;;
    db-slow)
      u=$(unit)
      dev=$(netem_left)
      if [ -n "$dev" ]; then
        echo "$(hostname): a netem delay is still on $dev"
      else
        rm -f "$STATE/netem.dev"
      fi
      if [ -f "$STATE/$u.quota" ] && [ "$(quota "$u")" != "$(cat "$STATE/$u.quota")" ]; then
        echo "$(hostname): $u's CPU quota is $(quota "$u"), $(cat "$STATE/$u.quota") before"
      else  # back as it was: the saved quota has served, nothing of the fault stays on the host
        rm -f "$STATE/$u.quota" && { rmdir "$STATE" 2>/dev/null || true; }
      fi ;;
    db-lossy)
      ! command -v iptables-save >/dev/null || ! iptables-save | grep -q "$CHAIN" \
        || echo "$(hostname): iptables still has the chain $CHAIN: $(iptables-save | grep "$CHAIN" | paste -sd'|')" ;;
  esac
}

oneline() { tr '\n' ' ' | cut -c1-300; }

timer() {
  local at=${1:?at} hold=${2:?for} out=${3:?out} began msg
  injected=0 undone=0 sleeper=
  finish() {
    [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
    [ "$injected" = 1 ] && [ "$undone" = 0 ] || return 0
    undone=1
    msg=$(undo 2>&1) || echo "error undoing $kind failed: $(oneline <<<"$msg")" >>"$out"
    echo "ended $(date +%s.%N)" >>"$out"
  }
  trap 'finish; exit 143' TERM INT HUP
  sleep "$(awk -v at="$at" -v now="$(date +%s.%N)" 'BEGIN { w = at - now; print (w > 0 ? w : 0) }')" &
  sleeper=$!
  wait "$sleeper"
  began=$(date +%s.%N)
  injected=1  # from here on an undo is owed, even if putting it in place failed half-way
  if msg=$(inject 2>&1); then
    echo "started $began" >>"$out"
  else
    echo "error putting $kind in place failed: $(oneline <<<"$msg")" >>"$out"
  fi
  sleep "$hold" &
  sleeper=$!
  wait "$sleeper"
  finish
}

case $action in
  timer) timer "${4:-}" "${5:-}" "${6:-}" ;;
  undo)
    # A running timer undoes on TERM; wait for it (a start takes a few seconds), then undo again.
    pkill -TERM -f 'churnlab-fault[.]sh timer' || true
    for _ in $(seq 150); do pgrep -f 'churnlab-fault[.]sh timer' >/dev/null || break; sleep 0.2; done
    undo ;;
  check) check ;;
  can-delay) cannot_delay "${4:?toward}" ;;
  *) echo "usage: $0 timer|undo|check|can-delay KIND WHAT [AT_EPOCH FOR_S OUT [SETTING [DELAY_MS TOWARD]] | TOWARD]" >&2
     exit 2 ;;
esac
