#!/usr/bin/env bash
# Builds the dashboard page (web/) into dist/dashboard/, which the HTTP API
# serves: its TypeScript type-checked and compiled (web/tsconfig.json: the
# DOM's types, ES modules for the browser), its page and style copied.
# Run by scripts/build.sh (so by npm install, npm run build and npm test).
set -euo pipefail
cd "$(dirname "$0")/.."

node node_modules/typescript/bin/tsc -p web
install -m 0644 web/index.html web/dashboard.css dist/dashboard/
