#!/usr/bin/env bash
# The systemd units, as cmake --install ships them: `systemd-analyze verify`
# passes and `systemd-analyze security --offline=yes` rates each at most 4
# (the exposure score, 0 = locked down, 10 = unsafe). A unit missing its
# sandbox fails the check: the last step proves the test can fail.
#   systemd_units_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is missing (apt-get install systemd)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
max_exposure=4.0

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" --component Unspecified >"$work/install.log"
units=$work/units
mkdir -p "$units"
# ExecStart names the configured bindir; verify wants the programs to exist,
# so point the installed units at this install's bin/.
configured_bindir=$(sed -n 's|^ExecStart=\(.*\)/qatlab-server .*|\1|p' "$prefix/lib/systemd/system/qatlab-server.service")
[[ -n $configured_bindir ]] || fail "qatlab-server.service has no ExecStart naming qatlab-server"
for unit in "$prefix"/lib/systemd/system/*; do
  sed "s|$configured_bindir/|$prefix/bin/|" "$unit" >"$units/$(basename "$unit")"
done
# Templates are checked through an instance; the agent's is a serial port.
mv "$units/qatlab-worker@.service" "$units/qatlab-worker@1.service"
mv "$units/qatlab-agent@.service" "$units/qatlab-agent@ttyACM0.service"

# Exposure of one unit file, e.g. 1.4.
exposure() {
  (cd "$units" && systemd-analyze security --offline=yes --no-pager "$1" 2>&1) |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}

for unit in qatlab-server.service qatlab-worker@1.service qatlab-agent@ttyACM0.service; do
  if ! output=$(cd "$units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$unit" 2>&1) || [[ -n $output ]]; then
    fail "systemd-analyze verify $unit: $output"
  fi
  score=$(exposure "$unit")
  [[ -n $score ]] || fail "systemd-analyze security gave no score for $unit"
  echo "$unit: exposure $score"
  awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }' || fail "$unit: exposure $score > $max_exposure"
done

# The same check on the server unit without its sandbox must fail.
grep -v -E '^(NoNewPrivileges|CapabilityBoundingSet|ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateUsers|Protect|Restrict|SystemCall|LockPersonality|RemoveIPC|PrivateMounts|DevicePolicy)' \
  "$units/qatlab-server.service" >"$units/qatlab-unsandboxed.service"
score=$(exposure qatlab-unsandboxed.service)
echo "qatlab-server.service without its sandbox: exposure $score"
awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s > m) }' ||
  fail "the unsandboxed server unit rates $score, not above $max_exposure: the check cannot fail"
echo "PASS"
