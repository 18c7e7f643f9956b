#!/usr/bin/env bash
# Rebuilds the committed contract artifacts with the pinned solc from npm. Cargo builds never need
# this (they read the committed artifacts); run it after changing contracts/src.
#   contracts/build.sh            rebuild contracts/artifacts
#   contracts/build.sh --check    compile into a temporary directory and fail if it differs
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/solc ] || npm ci --no-audit --no-fund
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  node build.mjs "$tmp"
  diff -r artifacts "$tmp" && echo "contract artifacts match a fresh compile"
else
  node build.mjs artifacts
fi
