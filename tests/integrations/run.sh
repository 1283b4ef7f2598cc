#!/usr/bin/env bash
# Every integration check, in one run: the SARIF schema check, the
# pre-commit hook, the GitHub Action, and the Ansible collection.  Each
# script makes or reuses the virtual environment of venv.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/venv.sh"
for check in "$here/sarif.sh" "$here/ci_recipe.sh" "$here/precommit.sh" "$here/action.sh" "$REPO/ansible/tests/run.sh"; do
    echo "=== $(basename "$(dirname "$check")")/$(basename "$check")"
    start=$(date +%s)
    bash "$check"
    echo "=== $(basename "$check"): $(($(date +%s) - start)) s"
done
