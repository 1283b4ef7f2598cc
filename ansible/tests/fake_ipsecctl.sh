#!/bin/sh
# A stand-in for ipsecctl(8) in the integration run: records each call
# (argv, and the file given with -f) under $ROOT/var/log/ipsecctl, refuses a
# file ipsecmgr cannot compile (as ipsecctl refuses a bad file), and answers
# -sa with $ROOT/var/ipsecctl.sa.  ROOT and IPSECMGR are filled in when the
# test gateway is made.
root='@ROOT@'
log="$root/var/log/ipsecctl"
mkdir -p "$log"
n=$(ls "$log" | grep -c args)
printf '%s\n' "$@" > "$log/$n.args"
prev=""
file=""
for a in "$@"; do
	if [ "$prev" = "-f" ]; then file="$a"; fi
	prev="$a"
done
if [ -n "$file" ]; then
	cat "$file" > "$log/$n.file" 2>/dev/null || { echo "ipsecctl: cannot open $file" >&2; exit 1; }
	'@IPSECMGR@' -c "$root/etc/ipsecmgr.conf" compile "$file" > /dev/null || {
		echo "ipsecctl: Syntax error in config file: ipsec rules not loaded" >&2; exit 1; }
fi
if [ "$1" = "-sa" ]; then cat "$root/var/ipsecctl.sa" 2>/dev/null || printf 'FLOWS:\nNo flows\n\nSAD:\nNo entries\n'; fi
exit 0
