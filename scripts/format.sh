#!/usr/bin/env bash
# Formats our C and C++ sources with .clang-format.
#   scripts/format.sh           rewrites every source file that differs
#   scripts/format.sh --check   changes nothing; lists the files that differ
#                               and exits 1 if there are any
# Our sources are the tracked *.c, *.cc, *.h files; build trees and generated
# code (protoc output lives in the build tree) are never touched.
# CLANG_FORMAT picks the binary; clang-format 14 (Debian 12) is the reference,
# other versions may format some constructs differently.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

clang_format=${CLANG_FORMAT:-}
if [[ -z $clang_format ]]; then
  if command -v clang-format-14 >/dev/null 2>&1; then clang_format=clang-format-14; else clang_format=clang-format; fi
fi
command -v "$clang_format" >/dev/null 2>&1 || { echo "format.sh: $clang_format not found (scripts/install_deps.sh)" >&2; exit 2; }

mapfile -t files < <(git ls-files -- '*.c' '*.cc' '*.h' '*.cpp' '*.hpp' | grep -Ev '(^|/)build[^/]*/|\.pb\.(h|cc)$')

if ((check)); then
  differ=()
  for f in "${files[@]}"; do
    if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then differ+=("$f"); fi
  done
  if ((${#differ[@]})); then
    printf '%s\n' "${differ[@]}"
    echo "format.sh: ${#differ[@]} of ${#files[@]} files are not formatted (run scripts/format.sh)" >&2
    exit 1
  fi
  echo "format.sh: ${#files[@]} files formatted" >&2
else
  printf '%s\0' "${files[@]}" | xargs -0 -n 20 "$clang_format" --style=file -i
fi
