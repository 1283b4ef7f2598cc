#!/usr/bin/env bash
# The ipsecmgr-lint pre-commit hook, through `pre-commit try-repo` on a
# sample configuration repository made in a temporary directory: a clean
# commit passes, a change with an error is refused and the hook says why.
set -euo pipefail
. "$(dirname "$0")/venv.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# pre-commit builds the hook with cargo install under a CARGO_HOME of its
# own, so nothing is shared with earlier builds; the test checks what the
# hook decides, not how fast the binary runs, so it is built unoptimised
export CARGO_PROFILE_RELEASE_OPT_LEVEL=0
export PRE_COMMIT_HOME=$work/pre-commit-home

sample=$work/gateway-config
mkdir -p "$sample/etc/ipsec.d"
cd "$sample"
git init -q
git config user.email ci@example.net
git config user.name ci
cat > etc/ipsec.conf <<'CONF'
# gw1: one include per customer
local_net = "10.0.0.0/16"
flow in from $local_net to 10.0.0.1 type bypass
include "/etc/ipsec.d/customer-a.conf"
CONF
cat > etc/ipsec.d/customer-a.conf <<'CONF'
ike esp from 10.0.10.0/24 to 10.10.0.0/16 peer 198.51.100.10 \
	main auth hmac-sha2-256 enc aes-256 group modp2048 \
	quick enc aes-256-gcm group modp2048 \
	psk "customer-a-0123456789abcdef"
CONF
chmod 600 etc/ipsec.conf etc/ipsec.d/*.conf

try_hook() {
    timeout 900 pre-commit try-repo "$REPO" ipsecmgr-lint --verbose >"$work/hook.out" 2>&1
}

# 1. a clean configuration: the hook passes, the commit is made
git add -A
if ! try_hook; then
    cat "$work/hook.out"
    echo "precommit: the clean configuration was refused" >&2
    exit 1
fi
git commit -q -m "customer-a"

# 2. a transform ipsecctl does not know (E031): the hook fails and names
# the file, line and code
cat > etc/ipsec.d/customer-b.conf <<'CONF'
ike esp from 10.0.20.0/24 to 10.20.0.0/16 peer 198.51.100.20 \
	quick enc aes-512 psk "customer-b-0123456789abcdef"
CONF
chmod 600 etc/ipsec.d/customer-b.conf
echo 'include "/etc/ipsec.d/customer-b.conf"' >> etc/ipsec.conf
git add -A
if try_hook; then
    cat "$work/hook.out"
    echo "precommit: a configuration with an error was let through" >&2
    exit 1
fi
if ! grep -q 'etc/ipsec.d/customer-b.conf:2:.*error\[E031\]' "$work/hook.out"; then
    cat "$work/hook.out"
    echo "precommit: the refusal does not name the file, line and code" >&2
    exit 1
fi
if grep -q 'customer-b-0123456789abcdef' "$work/hook.out"; then
    echo "precommit: the hook's output shows a pre-shared key" >&2
    exit 1
fi
echo "precommit: clean commit passed, faulty one refused (E031)"
