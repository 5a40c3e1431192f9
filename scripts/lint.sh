#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy's checks) over our C and C++ sources and fails
# on any finding. Needs a configured and built tree for compile_commands.json
# and the generated protobuf headers: scripts/build.sh makes build/.
#   scripts/lint.sh [FILE...]   only these files (paths relative to the root)
# QATLAB_BUILD_DIR picks the build tree; CLANG_TIDY the clang-tidy binary
# (clang-tidy 14, Debian 12's, is the reference); QATLAB_LINT_JOBS the
# parallelism (default: nproc). Generated code (the build tree) and code we do
# not own are never linted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QATLAB_BUILD_DIR:-$root/build}
jobs=${QATLAB_LINT_JOBS:-$(nproc)}
db=$build/compile_commands.json
if [[ ! -f $db ]]; then
  echo "lint.sh: no $db; build first (scripts/build.sh)" >&2
  exit 2
fi

pick() { for c in "$@"; do if command -v "$c" >/dev/null 2>&1; then echo "$c"; return; fi; done; }
clang_tidy=${CLANG_TIDY:-$(pick clang-tidy-14 clang-tidy)}
[[ -n $clang_tidy ]] || { echo "lint.sh: clang-tidy not found (scripts/install_deps.sh)" >&2; exit 2; }

# Our translation units: what the build compiles from the source tree, not
# from a build tree (protoc output, generated firmware paths).
mapfile -t units < <(python3 - "$db" "$root" "$@" <<'PY'
import json, os, sys
db, root, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
wanted = {os.path.normpath(os.path.join(root, w)) for w in wanted}
seen = set()
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    if rel.startswith("..") or rel.split(os.sep)[0].startswith("build"):
        continue
    if wanted and path not in wanted:
        continue
    if path not in seen:
        seen.add(path)
        print(path)
PY
)
if ((${#units[@]} == 0)); then
  echo "lint.sh: no translation units to lint" >&2
  exit 2
fi

# Findings in our headers count too; headers of the build tree and of the
# system do not. The filter names our top-level folders (llvm's regex has no
# negative look-ahead to say "not build*").
folders=$(cd "$root" && git ls-files -- '*.c' '*.cc' '*.h' | cut -d/ -f1 | grep -v '^build' | sort -u | paste -sd'|')
header_filter="^$root/($folders)/"

echo "lint.sh: $clang_tidy over ${#units[@]} translation units, $jobs at a time" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# One clang-tidy per unit; .clang-tidy makes every finding an error, so a
# finding is a non-zero exit. Output goes to one log so parallel runs do not
# interleave mid-line. GCC-only flags in compile_commands.json (the
# -Wno-restrict that targets using ONNX carry) are not clang's to judge.
printf '%s\0' "${units[@]}" |
  xargs -0 -P "$jobs" -I{} sh -c '
    out=$("$0" -p "$1" --quiet --header-filter="$2" --extra-arg=-Wno-unknown-warning-option "$3" 2>&1) && exit 0
    printf "%s\n" "$out"; exit 1' "$clang_tidy" "$build" "$header_filter" {} >"$log" || status=$?
# clang-tidy repeats a header's finding for every unit that includes it.
grep -E '(warning|error): ' "$log" | sort -u || true
if ((status != 0)); then
  findings=$(grep -E '(warning|error): ' "$log" | sort -u | wc -l)
  grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log" | grep -q . || true
  echo "lint.sh: $findings distinct findings; fix them (or, with the reviewers, change .clang-tidy)" >&2
  exit 1
fi
echo "lint.sh: no findings" >&2
