#!/usr/bin/env bash
# The container file, checked without a container daemon (none runs here):
# it lints clean with npm's dockerfile-utils (installed once into the data
# cache), has the shape docs/deploy.md promises (multi-stage, Debian 12, a
# server and a worker target, a non-root user), and every Debian package it
# installs exists in Debian 12 (apt-cache, when its lists are present). A
# broken copy is rejected by the linter.
#   container_file_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$(cd "$1" && pwd)
containerfile=$source_dir/deploy/container/Containerfile
fail() { echo "FAIL: $*" >&2; exit 1; }

cache=${QATLAB_DATA_CACHE:-${HOME:-/tmp}/.cache/qatlab}
packages=$cache/dockerfile-utils-0.16.3
lint=$packages/node_modules/.bin/dockerfile-utils
mkdir -p "$packages"
flock "$packages/.install.lock" sh -c "test -x '$lint' || npm install --ignore-scripts --no-audit --no-fund \
  --loglevel=error --update-notifier=false --prefix '$packages' dockerfile-utils@0.16.3" ||
  fail "cannot install dockerfile-utils through npm into $packages"

output=$("$lint" lint "$containerfile") || fail "dockerfile-utils lint $containerfile: $output"
[[ -z $output ]] || fail "dockerfile-utils lint $containerfile: $output"

grep -q '^FROM debian:12 AS build$' "$containerfile" || fail "no Debian 12 build stage"
for stage in runtime worker server; do
  grep -q "^FROM .* AS $stage\$" "$containerfile" || fail "no '$stage' stage"
done
[[ $(grep '^FROM ' "$containerfile" | grep -v -c -E '^FROM (debian:12(-slim)?|runtime|worker) AS ') == 0 ]] ||
  fail "a stage is not based on Debian 12 or on another stage"
last_user=$(grep '^USER ' "$containerfile" | tail -1)
[[ -n $last_user && $last_user != "USER root"* && $last_user != "USER 0"* ]] || fail "the images do not run as a non-root user"
grep -q '^ENTRYPOINT \["/usr/bin/qatlab-server"\]' "$containerfile" || fail "the server image does not run qatlab-server"
grep -q '^ENTRYPOINT \["/usr/bin/qatlab-worker"\]' "$containerfile" || fail "the worker image does not run qatlab-worker"

# The Debian packages the stages install.
mapfile -t wanted < <(sed -n '/apt-get install/,/rm -rf/p' "$containerfile" | tr ' \\' '\n\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -v -E '^(apt-get|install|rm|update)$' | sort -u)
((${#wanted[@]} > 10)) || fail "found only ${#wanted[@]} packages in the apt-get lines"
if [[ -n $(apt-cache policy libc6 2>/dev/null | grep Candidate) ]]; then
  # One apt-cache call (each costs seconds): the packages it knows, by name.
  known=$(apt-cache show --no-all-versions "${wanted[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
  for package in "${wanted[@]}"; do
    grep -qx -- "$package" <<<"$known" || fail "the Containerfile installs '$package', which apt-cache does not know"
  done
else
  echo "note: no apt lists here; the package names were not checked"
fi

# The linter can fail: a copy with a broken instruction is rejected.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed 's/^EXPOSE 50051$/EXPOSE grpc/' "$containerfile" >"$work/Containerfile"
if broken=$("$lint" lint "$work/Containerfile"); then fail "a Containerfile with 'EXPOSE grpc' linted clean"; fi
grep -q "Invalid containerPort" <<<"$broken" || fail "the broken copy was rejected for another reason: $broken"
echo "PASS (${#wanted[@]} Debian packages checked)"
