#!/usr/bin/env bash
# Install the system servers the interop suite runs (nginx, apache2), idempotently.
#
# The suite runs its own nginx and apache2 as child processes on free loopback ports with
# generated configs, so the distro's default services must not be left running: during the
# install a policy-rc.d forbids the package scripts from starting them, and any default
# instance that runs anyway is stopped afterwards.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || missing+=(apache2)

if [ ${#missing[@]} -eq 0 ]; then
    echo "interop: nginx and apache2 are installed"
    exit 0
fi

cmd="apt-get update && apt-get install -y nginx apache2"
if [ "$(id -u)" -ne 0 ]; then
    echo "interop: missing ${missing[*]}; run as root: $cmd" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "interop: missing ${missing[*]} and no apt-get; install nginx and apache2" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by tests/interop/install_system_servers.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() {
    if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

echo "interop: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends nginx apache2

# Belt and braces: if a default instance started anyway, stop it so port 80 stays free.
for pidfile in /run/nginx.pid /run/apache2/apache2.pid /var/run/apache2/apache2.pid; do
    if [ -s "$pidfile" ]; then
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            echo "interop: stopping default service pid $pid ($pidfile)"
            kill "$pid" || true
        fi
    fi
done
echo "interop: nginx and apache2 installed"
