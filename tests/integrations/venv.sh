# Sourced by the integration scripts: makes (once) and activates the
# virtual environment holding the Python tools they run, and builds the
# ipsecmgr binary they test.  Sets REPO, VENV and IPSECMGR.
set -eu
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${INTEGRATIONS_VENV:-$REPO/target/integrations-venv}
REQUIREMENTS=$REPO/tests/integrations/requirements.txt

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    # Debian splits venv out of python3
    apt-get install -y -q python3-venv >/dev/null
fi
# reinstall only when the requirements change
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

if [ -z "${IPSECMGR:-}" ]; then
    (cd "$REPO" && cargo build -q --bin ipsecmgr)
    IPSECMGR=$REPO/target/debug/ipsecmgr
fi
export REPO VENV IPSECMGR
