#!/usr/bin/env bash
# The README's GitHub Actions job, run as written: its ipsecmgr steps are
# read out of the README's workflow block and run, as the runner runs them
# (`bash -e`, the step's env set), on a `git clone --depth 1` of a sample
# configuration repository, as actions/checkout leaves it: one commit, files
# 0644.  A clean change must pass (exit 0), a broken one fail (exit 1).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${IPSECMGR:-}" ]; then
    (cd "$REPO" && cargo build -q --bin ipsecmgr)
    IPSECMGR=$REPO/target/debug/ipsecmgr
fi
umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
ln -s "$IPSECMGR" "$work/bin/ipsecmgr"
export PATH="$work/bin:$PATH"
git() { command git -c user.name=ci -c user.email=ci@example.net -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }

fail() {
    echo "ci_recipe: $*" >&2
    exit 1
}

# --- the job, from the README
workflow=$(awk '/^```yaml$/ { on = 1; next } on && /^```$/ { exit } on' "$REPO/README.md")
grep -q '^name: ipsec$' <<<"$workflow" || fail "README: no workflow block"
# the lint step: a one-line `- run: ipsecmgr ...`
lint_step=$(sed -n 's/^ *- run: \(ipsecmgr .*\)$/\1/p' <<<"$workflow")
[ "$(wc -l <<<"$lint_step")" -eq 1 ] && [ -n "$lint_step" ] || fail "README: not one lint step: $lint_step"
# the pull request step: the block after `run: |`, and its env
diff_step=$(awk '/run: \|$/ { on = 1; next }
    on && /^ *$/ { exit }
    on { sub(/^ +/, ""); print }' <<<"$workflow")
grep -q 'ipsecmgr diff --tree' <<<"$diff_step" || fail "README: no diff step: $diff_step"
grep -q '^          BASE: \${{ github.event.pull_request.base.sha }}$' <<<"$workflow" ||
    fail "README: the diff step's BASE is not the pull request's base"

# --- a configuration repository: the example gateway, then changes
origin=$work/origin
mkdir -p "$origin"
cp -r "$REPO/conf.d-examples/etc" "$origin/etc"
git -C "$origin" init -q
git -C "$origin" add -A
git -C "$origin" commit -qm base
base=$(git -C "$origin" rev-parse HEAD)
change() { # BRANCH SED-EXPRESSION FILE
    git -C "$origin" checkout -q -b "$1" "$base"
    sed -i "$2" "$origin/$3"
    git -C "$origin" commit -qam "$1"
}
change clean 's#172.16.11.0/24#172.16.12.0/24#' etc/ipsec.d/customer-acme.conf
change broken 's#enc aes-128 group#enc aes128 group#' etc/ipsec.d/customer-acme.conf
change weak 's#enc aes-128 group#enc 3des group#' etc/ipsec.d/customer-acme.conf

# runs one step as the runner does; prints its exit status
step() { # DIR SCRIPT
    (cd "$1" && BASE=$base bash -e -c "$2") >"$work/out" 2>&1 && echo 0 || echo $?
}

# runs the job on a fresh depth-1 clone of BRANCH; prints the exit
# status of each step
job() {
    # each in its own directory: the job makes ../base beside it
    local checkout=$work/$1/checkout
    mkdir "$work/$1"
    git clone -q --depth 1 --branch "$1" "file://$origin" "$checkout"
    [ "$(git -C "$checkout" rev-list --count HEAD)" = 1 ] || fail "$1: clone is not depth 1"
    [ "$(stat -c %a "$checkout/etc/ipsec.d/customer-acme.conf")" = 644 ] || fail "$1: modes not 0644"
    local lint diff
    lint=$(step "$checkout" "$lint_step")
    cp "$work/out" "$work/$1.lint"
    diff=$(step "$checkout" "$diff_step")
    cp "$work/out" "$work/$1.diff"
    echo "$lint $diff"
}

expect() { # BRANCH LINT-STATUS DIFF-STATUS
    local got
    got=$(job "$1")
    if [ "$got" != "$2 $3" ]; then
        cat "$work/$1.lint" "$work/$1.diff" >&2
        fail "$1: lint and diff exited $got, expected $2 $3"
    fi
    echo "ci_recipe: $1: lint $2, diff --tree $3"
}

expect clean 0 0
grep -q '^changed customer-acme: ipsecmgr apply customer-acme$' "$work/clean.diff" ||
    fail "clean: the review does not show the change: $(cat "$work/clean.diff")"
! grep -q '^::' "$work/clean.lint" || fail "clean: annotations: $(cat "$work/clean.lint")"
expect broken 1 1
grep -q '^::error file=etc/ipsec.d/customer-acme.conf,line=5,' "$work/broken.lint" ||
    fail "broken: no annotation on the file: $(cat "$work/broken.lint")"
expect weak 1 0
echo "ci_recipe: the README's job passes a clean change and fails broken ones"
