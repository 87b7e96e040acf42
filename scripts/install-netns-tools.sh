#!/usr/bin/env bash
# Install the tools the network-namespace reliability tests need (iproute2 for
# `ip netns` and `tc`, iptables for DROP rules), with apt-get, only if missing.
#
# Idempotent and never fatal: it exits 0 whether the tools are present or could
# not be installed (not root, no apt-get, no network), because the `netns` tests
# then skip with the reason instead of failing the whole run.
set -u
# The tools live in sbin, which a non-login shell's PATH may lack.
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"

missing=()
command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-netns-tools: iproute2 and iptables already present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-netns-tools: missing ${missing[*]}, not root: not installing (netns tests will skip)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-netns-tools: missing ${missing[*]}, no apt-get: not installing (netns tests will skip)"
    exit 0
fi

echo "install-netns-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Bounded: a held dpkg lock or a stalled mirror must not hang CI.
apt=(timeout 600 apt-get -qq -o DPkg::Lock::Timeout=120)
if "${apt[@]}" update >"$log" 2>&1 \
    && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    echo "install-netns-tools: installed ${missing[*]}"
else
    echo "install-netns-tools: apt-get failed (netns tests will skip); its last lines:"
    tail -n 5 "$log"
fi
exit 0
