#!/usr/bin/env bash
# Starts an emulated qatlab board for the MLCommons Tiny host runner and
# prints its serial port (a pty) once the board answers; then waits for QEMU.
#
#   device_agent/emulated_board_for_runner.sh <qatlab-fw.elf> [machine] [icount shift]
#     machine: mps2-an386 (default) or netduinoplus2; shift: 0 (default)
#
# Why a launcher: QEMU's pty backend drops what the guest prints while no one
# holds the pty open, and after someone opens it QEMU notices only at its next
# poll, about 0.5 s later (measured: 0.50-0.51 s idle, up to 0.93 s loaded),
# against the runner's 1 s name check. This script opens the pty itself,
# reads the boot banner (or resyncs with '%'), and then keeps its descriptor
# open without ever reading again: QEMU stays connected, the runner's first
# command is answered within milliseconds, and no byte is taken from it.
# Ctrl-C (or killing this script) stops QEMU.
set -euo pipefail

elf=${1:?usage: $0 <qatlab-fw.elf> [machine] [icount shift]}
machine=${2:-mps2-an386}
shift_n=${3:-0}
[[ -f "$elf" ]] || { echo "$0: no firmware image at $elf" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "$qemu" 2>/dev/null || true; rm -rf "$work"' EXIT
qemu-system-arm -M "$machine" -nographic -monitor none -serial pty -icount "shift=$shift_n" \
  -kernel "$elf" >"$work/qemu.log" 2>&1 &
qemu=$!

pty=""
for _ in $(seq 200); do
  pty=$(grep -so '/dev/pts/[0-9]*' "$work/qemu.log" | head -n 1 || true)
  [[ -n "$pty" ]] && break
  kill -0 "$qemu" 2>/dev/null || { cat "$work/qemu.log" >&2; exit 1; }
  sleep 0.05
done
[[ -n "$pty" ]] || { echo "$0: QEMU named no pty within 10 s" >&2; cat "$work/qemu.log" >&2; exit 1; }

exec 3<>"$pty"
stty -F "$pty" raw -echo
# The banner may have been printed before the pty was open (and dropped):
# '%' alone is answered with m-ready, so read up to the last m-ready.
printf '%%' >&3
ready=0
while IFS= read -r -t 3 -u 3 line; do
  [[ "$line" == m-ready* ]] && { ready=1; break; }
done
[[ $ready == 1 ]] || { echo "$0: the board did not answer on $pty" >&2; exit 1; }
# Anything still in flight (a banner's m-ready after ours) is read now.
while IFS= read -r -t 0.3 -u 3 _; do :; done

echo "$pty"
wait "$qemu"
