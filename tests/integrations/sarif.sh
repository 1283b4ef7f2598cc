#!/usr/bin/env bash
# `ipsecmgr lint --format sarif` on every example of a bad configuration
# (each must report its own code) and on the clean example gateway,
# validated against the SARIF 2.1.0 schema with Python's jsonschema.
set -euo pipefail
. "$(dirname "$0")/venv.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pairs=()
for example in "$REPO"/conf.d-examples/bad/*/; do
    name=$(basename "$example")
    cp -r "$example" "$work/$name"
    # E001 and L402 examples hold FIFOs or unreadable files made by the
    # Rust tests; the copy is what lint sees, as in tests/lint.rs
    read -ra extra <<<"$(cat "$example/args" 2>/dev/null || true)"
    (cd "$work/$name" && timeout 20 "$IPSECMGR" --root . lint --format sarif "${extra[@]}" >"$work/$name.sarif" || [ $? -le 1 ])
    pairs+=("$work/$name.sarif:${name%%-*}")
done
mkdir "$work/clean" && cp -r "$REPO/conf.d-examples/etc" "$work/clean/etc"
(cd "$work/clean" && timeout 20 "$IPSECMGR" --root . lint --format sarif >"$work/clean.sarif")
pairs+=("$work/clean.sarif")
# an absolute path: a file:// URI
timeout 20 "$IPSECMGR" lint --offline --format sarif "$work/L201-weak-crypto/etc/ipsec.conf" >"$work/absolute.sarif" || [ $? -le 1 ]
pairs+=("$work/absolute.sarif:L201")

python3 "$REPO/tests/integrations/validate_sarif.py" \
    "$REPO/tests/schemas/sarif-schema-2.1.0.json" "${pairs[@]}"
echo "sarif: ${#pairs[@]} logs valid against SARIF 2.1.0"
