#!/usr/bin/env bash
# Run by `npm install` (postinstall): the Debian packages fnjail uses, the build,
# and, as root, the fnjail command on the PATH (/usr/local/bin/fnjail) and the
# example libraries in /opt/fnlib that the shipped default policy allows.
set -euo pipefail
cd "$(dirname "$0")/.."

# libseccomp: the tests compare fnjail's seccomp compiler with it.
# libssl-dev: the C client library (clients/c) loads OpenSSL 3 at run time for TLS;
#   its headers let the tests check the declarations ipc.c makes of it.
# openssl: the tests make their own CA and certificates with its CLI; the
#   private nats-server gets its TLS certificate from it.
# nats-server: the platform's state (function registry, jobs, cluster) lives in
#   NATS JetStream; `fnjail serve` starts a private one when given no --nats.
# iproute2: the cluster's tests make hosts of network namespaces (ip netns,
#   veth, a bridge); not in every minimal image.
# netcat-openbsd: nc, the client of README's exposed function (TP7's toupper
#   over TCP), which its test runs as written there.
# chromium: the dashboard's browser tests drive it (playwright-core, which
#   downloads no browser of its own: test/helpers/browser.ts gives this one).
# firefox-esr: the dashboard's Firefox test drives it over WebDriver BiDi
#   (test/helpers/firefox-bidi.ts); no browser is ever downloaded from elsewhere.
APT_PACKAGES=(libseccomp-dev libssl-dev openssl nats-server iproute2 netcat-openbsd chromium firefox-esr)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "fnjail: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "fnjail: warning: missing Debian packages ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
  fi
fi

bash scripts/build.sh

if [[ $(id -u) == 0 ]]; then
  node dist/src/cli/main.js install --command-only
  echo "fnjail: the systemd service and logrotate file: fnjail install (fnjail install --print shows them)"
  install -d -m 0755 -o root -g root /opt/fnlib /opt/fnlib/data
  install -m 0644 -o root -g root fixtures/build/libbasic.so fixtures/build/libcounter.so \
    fixtures/build/liblifecycle.so /opt/fnlib/
  printf 'Hello from fnjail: this file was read inside a sandbox.\n' > /opt/fnlib/data/hello.txt
  chmod 0644 /opt/fnlib/data/hello.txt
  echo "fnjail: example libraries installed in /opt/fnlib"
else
  echo "fnjail: not root: no fnjail command on the PATH, no example libraries in /opt/fnlib (the server needs root anyway); as root: fnjail install"
fi
