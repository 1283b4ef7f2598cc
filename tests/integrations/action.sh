#!/usr/bin/env bash
# The composite action in action.yml, run step by step by run_action.py on
# a pull request of a sample configuration repository, checked out at depth
# 1 as actions/checkout does: lint annotations, the base fetched by the
# action itself, the tunnel review in the job summary; then a push with an
# error, which must fail.
set -euo pipefail
. "$(dirname "$0")/venv.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
origin=$work/origin
mkdir -p "$origin/etc/ipsec.d"
cd "$origin"
git init -q -b main
git config user.email ci@example.net
git config user.name ci
# a runner fetches one commit by its id; a local origin must allow it
git config uploadpack.allowAnySHA1InWant true
cat > etc/ipsec.conf <<'CONF'
flow in from 10.0.0.0/16 to 10.0.0.1 type bypass
include "/etc/ipsec.d/customer-a.conf"
CONF
tunnel() {
    printf 'ike esp from 10.0.%s.0/24 to 10.%s.0.0/16 peer 198.51.100.%s \\\n\tmain auth hmac-sha2-256 enc aes-256 group %s \\\n\tquick enc aes-256-gcm group modp2048 \\\n\tpsk "customer-%s-0123456789abcdef"\n' "$1" "$1" "$1" "$2" "$1"
}
tunnel 10 modp2048 > etc/ipsec.d/customer-a.conf
chmod 600 etc/ipsec.conf etc/ipsec.d/*.conf
git add -A && git commit -q -m base
base_sha=$(git rev-parse HEAD)
# the pull request: customer-a re-keys with a weak group, customer-b comes
git checkout -q -b change
tunnel 10 modp1024 > etc/ipsec.d/customer-a.conf
tunnel 20 modp2048 > etc/ipsec.d/customer-b.conf
echo 'include "/etc/ipsec.d/customer-b.conf"' >> etc/ipsec.conf
git add -A && git commit -q -m change

git clone -q --depth 1 --branch change "file://$origin" "$work/checkout"
cd "$work/checkout"
if git cat-file -e "$base_sha" 2>/dev/null; then
    echo "action: the depth-1 checkout has the base commit; the test proves nothing" >&2
    exit 1
fi
run() {
    python3 "$REPO/tests/integrations/run_action.py" "$REPO/action.yml" "$@"
}
# the pull request: the action builds ipsecmgr itself (cargo install; the
# shared target directory keeps it incremental)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
run pull_request "$base_sha" >"$work/pr.out" 2>&1 || {
    cat "$work/pr.out"
    echo "action: the pull request run failed on warnings only" >&2
    exit 1
}
expect() {
    if ! grep -qF -- "$1" "$2"; then
        cat "$2"
        echo "action: expected in the output: $1" >&2
        exit 1
    fi
}
expect '::warning file=etc/ipsec.d/customer-a.conf,line=1' "$work/pr.out"
expect 'title=L201::' "$work/pr.out"
expect '| `customer-a` | changed |' "$work/pr.out"
expect '`peer-198.51.100.10`' "$work/pr.out"
expect '| `customer-b` | added | `from-10.0.20.0/24-to-10.20.0.0/16`' "$work/pr.out"
if grep -q 'customer-.-0123456789abcdef' "$work/pr.out"; then
    echo "action: a pre-shared key shows" >&2
    exit 1
fi

# a push with an error: annotations, no review, the job fails
tunnel 10 modp2048 | sed "s/enc aes-256-gcm/enc aes-512/" > etc/ipsec.d/customer-a.conf
if run push "" "ipsecmgr=$IPSECMGR" >"$work/push.out" 2>&1; then
    cat "$work/push.out"
    echo "action: a configuration with an error passed" >&2
    exit 1
fi
expect '::error file=etc/ipsec.d/customer-a.conf,line=3' "$work/push.out"
expect 'title=E031::' "$work/push.out"
if grep -q '| Fragment |' "$work/push.out"; then
    echo "action: a push got a pull request review" >&2
    exit 1
fi
echo "action: pull request annotated and reviewed; push with an error failed"
