#!/usr/bin/env bash
# Builds everything: the sandbox launcher, the fixture libraries, the C client
# library, the generated tables, the TypeScript, the dashboard page and the
# precompiled schema validators. Run by npm install, npm test and npm run build; cheap when
# nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

make -s -C sandbox
make -s -C fixtures
make -s -C clients/c
node scripts/gen-syscall-table.mjs
node node_modules/typescript/bin/tsc -p .
bash scripts/build-web.sh
node scripts/gen-validators.mjs
# The fnjail command (npm's bin, the link in /usr/local/bin) runs by its #! line.
chmod 0755 dist/src/cli/main.js
