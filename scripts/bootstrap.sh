#!/bin/sh
# Every npm script must run on the pinned Node 24 from node_modules, not on the
# machine's Node 20, so dependencies are installed before anything else runs.
# The stamp makes a second run cost nothing while package-lock.json is unchanged.
set -eu
cd "$(dirname "$0")/.."
stamp=node_modules/.kerris-lock-stamp
if [ -x node_modules/.bin/node ] && [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
echo "bootstrap: installing npm dependencies (npm ci)" >&2
npm ci --no-audit --no-fund >&2
cp package-lock.json "$stamp"
