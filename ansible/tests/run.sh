#!/usr/bin/env bash
# The Ansible collection's checks: ansible-test sanity (the tests that run
# offline), the pytest unit tests, and the integration playbooks against a
# test gateway on this machine (ipsecmgr under --root, stand-ins for
# ipsecctl and isakmpd): integration.yml, then converge.yml in check mode
# (nothing may change), for real, and again (nothing may change).
set -euo pipefail
. "$(dirname "$0")/../../tests/integrations/venv.sh"

ANSIBLE_DIR=$REPO/ansible
COLLECTION=$ANSIBLE_DIR/ansible_collections/ipsecmgr/openbsd
TESTS=$ANSIBLE_DIR/tests
PYTHON_VERSION=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
work=$(mktemp -d)
daemons=()
cleanup() {
    for pid in "${daemons[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# the sanity tests that run offline: the others (validate-modules, pylint,
# pep8, yamllint, ansible-doc, import, runtime-metadata) make environments of
# their own, bootstrapping pip from a host outside the package registries;
# they run with IPSECMGR_ANSIBLE_SANITY_ALL=1 where that host is reachable.
# What validate-modules checks most (documentation against argument specs)
# the unit tests check too, and ansible-doc below reads the documentation.
SANITY_TESTS=(
    action-plugin-docs compile empty-init ignores line-endings no-assert
    no-get-exception no-illegal-filenames no-smart-quotes replace-urlopen
    shebang symlinks use-argspec-type-path use-compat-six
)
echo "== ansible-test sanity"
(
    cd "$COLLECTION"
    args=(--python "$PYTHON_VERSION" --color no)
    if [ -z "${IPSECMGR_ANSIBLE_SANITY_ALL:-}" ]; then
        for t in "${SANITY_TESTS[@]}"; do args+=(--test "$t"); done
    fi
    timeout 600 ansible-test sanity "${args[@]}"
)
echo "== ansible-doc"
# each module's page, with the options of the common documentation fragment
for module in fragment info key; do
    ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_DIR timeout 120 ansible-doc "ipsecmgr.openbsd.$module" >"$work/doc"
    for option in binary root config; do
        grep -Eq "^ +$option +[^ ]" "$work/doc" || {
            echo "ansible-doc ipsecmgr.openbsd.$module: no option $option" >&2
            exit 1
        }
    done
done

echo "== pytest"
PYTHONPATH=$ANSIBLE_DIR timeout 300 python3 -m pytest -q -p no:cacheprovider "$COLLECTION/tests/unit"

# a test gateway under $1: ipsec.conf including the fragments named after it
make_gateway() {
    local gw=$1
    shift
    mkdir -p "$gw"/{etc/ipsec.d,sbin,var/run,var/db,var/log,home}
    printf '# test gateway\nflow in from 10.0.0.0/16 to 10.0.0.1 type bypass\n' > "$gw/etc/ipsec.conf"
    local n=10
    for name in "$@"; do
        echo "include \"/etc/ipsec.d/$name.conf\"" >> "$gw/etc/ipsec.conf"
        printf 'ike esp from 10.0.%s.0/24 to 10.%s.0.0/16 peer 198.51.100.%s \\\n\tmain auth hmac-sha2-256 enc aes-256 group modp2048 \\\n\tquick enc aes-256-gcm group modp2048 psk "%s-0123456789abcdef"\n' \
            "$n" "$n" "$n" "$name" > "$gw/etc/ipsec.d/$name.conf"
        n=$((n + 1))
    done
    printf 'ike esp from 10.0.9.0/24 to 10.9.0.0/16 peer 198.51.9.1 psk "customer-y-0123456789abcdef"\n' > "$gw/home/customer-y.conf"
    printf 'hostname = "gw1.example.net"\n' > "$gw/etc/ipsecmgr.conf"
    chmod 600 "$gw"/etc/*.conf "$gw"/etc/ipsec.d/*.conf "$gw"/home/*.conf
    sed -e "s|@ROOT@|$gw|" -e "s|@IPSECMGR@|$IPSECMGR|" "$TESTS/fake_ipsecctl.sh" > "$gw/sbin/ipsecctl"
    chmod 755 "$gw/sbin/ipsecctl"
    python3 "$TESTS/fake_isakmpd.py" "$gw" 600 &
    daemons+=($!)
    for _ in $(seq 100); do
        [ -f "$gw/var/run/fake_isakmpd.ready" ] && return 0
        sleep 0.1
    done
    echo "the stand-in isakmpd did not start" >&2
    return 1
}

# the gateway under $1 with fragment $2 in the keys layout: the keys file
# included first by ipsec.conf, the fragment's key written as the macro
# NAME_psk (- as _), declared in the settings' [keys]; lint must pass
make_keys_gateway() {
    local gw=$1 name=$2
    local macro=${name//-/_}_psk
    make_gateway "$gw" "$name"
    sed -i '1i include "/etc/ipsec.keys"' "$gw/etc/ipsec.conf"
    sed -i "s|psk \"$name-0123456789abcdef\"|psk \$$macro|" "$gw/etc/ipsec.d/$name.conf"
    printf '%s = "%s-0123456789abcdef"\n' "$macro" "$name" > "$gw/etc/ipsec.keys"
    chmod 600 "$gw/etc/ipsec.keys"
    printf '\n[keys]\nfile = "/etc/ipsec.keys"\nnames = ["%s"]\n' "$macro" >> "$gw/etc/ipsecmgr.conf"
    grep -qF "psk \$$macro" "$gw/etc/ipsec.d/$name.conf" || { echo "$name: no key macro" >&2; return 1; }
    "$IPSECMGR" --root "$gw" lint >/dev/null || { "$IPSECMGR" --root "$gw" lint >&2; return 1; }
}

export ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_DIR
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0
export ANSIBLE_PYTHON_INTERPRETER=$VENV/bin/python3
playbook() {
    timeout 600 ansible-playbook -i localhost, -e "ipsecmgr=$IPSECMGR" "$@"
}

echo "== the CARP pair example: syntax"
printf '[ipsec_gateways]\ngw-a\ngw-b\n' > "$work/pair.ini"
playbook -i "$work/pair.ini" --syntax-check -e ipsec_checkout=/nonexistent "$COLLECTION/playbooks/carp_pair.yml"

echo "== integration.yml"
make_gateway "$work/gw1" customer-a
make_keys_gateway "$work/gw3" customer-k
playbook -e "gateway=$work/gw1" -e "keys_gateway=$work/gw3" "$TESTS/integration.yml" | tee "$work/integration.out"
# the keys the key module set (integration.yml's key_v1, key_v2): never
# in what the playbook printed, nor in ipsecmgr's state
if grep -q 'customer-k-set-' "$work/integration.out"; then
    echo "the playbook's output shows a key" >&2
    exit 1
fi
if grep -rq 'customer-k-set-' "$work/gw3/var/db"; then
    echo "ipsecmgr's state holds a key" >&2
    exit 1
fi

# the recap line's changed=N
changed_of() {
    sed -n 's/^localhost *: .*changed=\([0-9]*\).*/\1/p' "$1"
}
state_of() {
    "$IPSECMGR" --root "$1" ls --json
    cat "$1/etc/ipsec.conf" "$1"/etc/ipsec.d/*.conf
}

echo "== converge.yml: check mode, run, run again"
make_gateway "$work/gw2" customer-a customer-old
state_of "$work/gw2" > "$work/before"
playbook -e "gateway=$work/gw2" --check --diff "$TESTS/converge.yml" | tee "$work/check.out"
state_of "$work/gw2" > "$work/after-check"
if ! cmp -s "$work/before" "$work/after-check"; then
    diff "$work/before" "$work/after-check" || true
    echo "check mode changed the gateway" >&2
    exit 1
fi
[ "$(changed_of "$work/check.out")" = 3 ] || { echo "check mode should report 3 changes" >&2; exit 1; }
if grep -q -- '-0123456789abcdef' "$work/check.out"; then
    echo "the diff shows a pre-shared key" >&2
    exit 1
fi
# ipsecmgr's own records are one line each in --diff, not their JSON
if grep -q '"ikes"' "$work/check.out" || ! grep -q '^record /var/db/ipsecmgr/loaded/' "$work/check.out"; then
    echo "the diff shows ipsecmgr's records in full, or not at all" >&2
    exit 1
fi
playbook -e "gateway=$work/gw2" "$TESTS/converge.yml" | tee "$work/first.out"
[ "$(changed_of "$work/first.out")" = 3 ] || { echo "the first run should make 3 changes" >&2; exit 1; }
playbook -e "gateway=$work/gw2" "$TESTS/converge.yml" | tee "$work/second.out"
[ "$(changed_of "$work/second.out")" = 0 ] || { echo "the second run changed something" >&2; exit 1; }
echo "== the CARP pair example on two test gateways"
checkout=$work/config-repo
mkdir -p "$checkout/etc/ipsec.d" "$work/bin"
printf 'flow in from 10.0.0.0/16 to 10.0.0.1 type bypass\ninclude "/etc/ipsec.d/customer-a.conf"\ninclude "/etc/ipsec.d/customer-b.conf"\n' > "$checkout/etc/ipsec.conf"
tunnel() {
    printf 'ike esp from 10.0.%s.0/24 to %s peer 198.51.100.%s \\\n\tmain auth hmac-sha2-256 enc aes-256 group modp2048 \\\n\tquick enc aes-256-gcm group modp2048 psk "customer-%s-0123456789abcdef"\n' "$1" "$2" "$1" "$1"
}
tunnel 10 10.12.0.0/16 > "$checkout/etc/ipsec.d/customer-a.conf"
tunnel 20 10.20.0.0/16 > "$checkout/etc/ipsec.d/customer-b.conf"
chmod 600 "$checkout"/etc/*.conf "$checkout"/etc/ipsec.d/*.conf
# ifconfig as OpenBSD prints a CARP interface: MASTER on carp-master only
printf '#!/bin/sh\nif [ "$1" = carp-master ]; then s=MASTER; else s=BACKUP; fi\nprintf "%%s: flags=8843<UP>\\n\\tcarp: %%s carpdev em0 vhid 1 advbase 1 advskew 0\\n" "$1" "$s"\n' > "$work/bin/ifconfig"
chmod 755 "$work/bin/ifconfig"
make_gateway "$work/gw-a" customer-a customer-old
make_gateway "$work/gw-b" customer-a customer-old
# the master's peers answer
printf '2 from-10.0.10.0/24-to-10.12.0.0/16 198.51.100.10\n2 from-10.0.20.0/24-to-10.20.0.0/16 198.51.100.20\n' > "$work/gw-a/var/isakmpd.up"
cat > "$work/pair.ini" <<INI
[ipsec_gateways]
gw-a ipsecmgr_root=$work/gw-a carp_interface=carp-master
gw-b ipsecmgr_root=$work/gw-b carp_interface=carp0
[ipsec_gateways:vars]
ansible_connection=local
ansible_python_interpreter=$VENV/bin/python3
ipsecmgr_binary=$IPSECMGR
ipsecmgr_controller_binary=$IPSECMGR
INI
PATH=$work/bin:$PATH timeout 600 ansible-playbook -i "$work/pair.ini" -e "ipsec_checkout=$checkout" \
    "$COLLECTION/playbooks/carp_pair.yml" | tee "$work/pair.out"
first=$(sed -n '/TASK \[Each tunnel file/,$p' "$work/pair.out" | grep -m1 -o 'changed: \[gw-.\]')
[ "$first" = "changed: [gw-b]" ] || { echo "the backup (gw-b) was not updated first: $first" >&2; exit 1; }
for gw in gw-a gw-b; do
    got=$("$IPSECMGR" --root "$work/$gw" ls --json | python3 -c 'import json,sys; print(" ".join(f["name"] + ":" + f["state"] for f in json.load(sys.stdin)["fragments"]))')
    [ "$got" = "customer-a:applied customer-b:applied" ] || { echo "$gw: $got" >&2; exit 1; }
    cmp -s "$checkout/etc/ipsec.d/customer-a.conf" "$work/$gw/etc/ipsec.d/customer-a.conf" || { echo "$gw: customer-a differs" >&2; exit 1; }
done

echo "ansible: sanity, unit and integration passed; check mode changed nothing, second run changed=0"
