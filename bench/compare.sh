#!/usr/bin/env bash
# Times the ipsecmgr command line on generated gateway trees, against cat
# reading the same files, and checks the results against the targets.
#
#   bench/compare.sh [--quick] [-o FILE]
#
# Builds the release binary and the gen-tree example, installs hyperfine
# and GNU time when missing (Debian packages), and writes trees of N =
# 100, 1000 and 10000 tunnels in two layouts into a temporary directory:
#
#   one    every tunnel in ipsec.conf          (gen-tree N 0)
#   frag   one include file per tunnel         (gen-tree N N)
#
# On each tree it times, with hyperfine (median of several runs, after
# warm-up runs, output fed through a pipe):
#
#   cat       find etc -name '*.conf' -exec cat {} +   every file opened and read
#   lint      ipsecmgr --root TREE lint
#   compile   ipsecmgr --root TREE compile
#   rm -n     ipsecmgr --root TREE rm -n customer-<middle>   (frag trees)
#   addconn   Libreswan's addconn --checkconfig on the same tunnels written
#             as Libreswan conns (gen-libreswan N 0, or N N: one file per
#             conn), when Libreswan is installed or can be; else skipped
#             with a note
#
# and the peak memory (max RSS) of one run of each with /usr/bin/time.
# Without --quick, and when valgrind is installed, it also counts the
# instructions of one run of each ipsecmgr command with callgrind (the
# same on every run, however busy the machine): the linearity targets
# are checked on those counts.
# Prints the machine, a markdown table and PASS/FAIL for each target.
#
#   --quick   N = 100 and 1000 only, fewer runs; the targets (which are
#             about N = 10000) are not checked
#   -o FILE   also write the report to FILE
#
# Exit status: 0; 1 when a target fails (not with --quick); 2 when an
# ipsecmgr command fails to run or exits with an error status (always;
# Libreswan's failing is only noted).
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

quick=0
out_file=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	-o)
		[ $# -ge 2 ] || {
			echo "compare.sh: -o needs a file" >&2
			exit 64
		}
		out_file=$2
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "compare.sh: unknown argument: $1" >&2
		usage >&2
		exit 64
		;;
	esac
	shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

say() { printf '%s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		say "compare.sh: need root (or sudo) to run: $*"
		exit 2
	fi
}

apt_updated=0
need() { # need COMMAND PACKAGE
	[ -x "$1" ] || command -v "$1" >/dev/null 2>&1 && return 0
	say "installing $2"
	if [ $apt_updated -eq 0 ]; then
		as_root apt-get update -qq >/dev/null
		apt_updated=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need hyperfine hyperfine
need /usr/bin/time time
need python3 python3
# Libreswan is a comparison, not a requirement: a machine without it (or
# without the rights to install it) skips its rows
addconn=
if ! command -v ipsec >/dev/null 2>&1; then
	say "installing libreswan"
	(need ipsec libreswan) >/dev/null 2>&1 || true
fi
if command -v ipsec >/dev/null 2>&1; then
	addconn="$(ipsec --directory 2>/dev/null || echo /usr/libexec/ipsec)/addconn"
	[ -x "$addconn" ] || addconn=
fi

say "building"
cargo build --release --quiet --bin ipsecmgr --example gen-tree --example gen-libreswan
target_dir=$(cargo metadata --format-version 1 --no-deps |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

if [ $quick -eq 1 ]; then
	sizes=(100 1000)
	hf_runs=(--warmup 1 --runs 5)
else
	sizes=(100 1000 10000)
	hf_runs=(--warmup 3 --runs 15)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ipsecmgr-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT
# copies: a build running meanwhile does not change what is measured
ipsecmgr=$work/ipsecmgr
gen_tree=$work/gen-tree
gen_libreswan=$work/gen-libreswan
cp "$target_dir/release/ipsecmgr" "$ipsecmgr"
cp "$target_dir/release/examples/gen-tree" "$gen_tree"
cp "$target_dir/release/examples/gen-libreswan" "$gen_libreswan"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=$work/results.tsv # tree n command json peak_kb status instructions
: >"$results"
notes=$work/notes.txt
: >"$notes"
failed=0
valgrind=$(command -v valgrind || true)

note() { printf '%s\n' "$*" >>"$notes"; }
if [ -z "$addconn" ]; then
	note "addconn: Libreswan is not installed and could not be; its rows are skipped"
fi

# Runs one command once (checking it works), then times it and measures
# its peak memory.  A command that fails is reported, not timed.
measure() { # measure TREE N NAME COMMAND...
	local tree=$1 n=$2 name=$3
	shift 3
	local id="$tree-$n-${name// /_}"
	local status=0
	# Libreswan is only compared with: its failing is noted, not an error
	local must=1
	[ "$name" = addconn ] && must=0
	"$@" >"$work/$id.out" 2>"$work/$id.err" || status=$?
	if [ $status -ne 0 ]; then
		[ $must -eq 0 ] || failed=1
		note "FAILED: $tree-$n: $name exited $status: $*"
		note "$(head -n 20 "$work/$id.err" "$work/$id.out" | sed 's/^/    /')"
		printf '%s\t%s\t%s\t-\t-\texit %s\t-\n' "$tree" "$n" "$name" "$status" >>"$results"
		return 0
	fi
	case "$name" in
	lint)
		local summary
		summary=$(tail -n 1 "$work/$id.out")
		if [ "$summary" != "0 errors, 0 warnings" ]; then
			note "lint $tree-$n found: $summary"
			note "$(head -n 20 "$work/$id.out" | sed 's/^/    /')"
		fi
		;;
	compile)
		if [ -s "$work/$id.err" ]; then
			note "compile $tree-$n printed diagnostics:"
			note "$(head -n 20 "$work/$id.err" | sed 's/^/    /')"
		fi
		;;
	addconn)
		if [ -s "$work/$id.err" ]; then
			note "addconn $tree-$n printed diagnostics:"
			note "$(head -n 20 "$work/$id.err" | sed 's/^/    /')"
		fi
		;;
	"rm -n")
		if ! grep -q "^move .*/${*: -1}\.conf " "$work/$id.out"; then
			note "rm -n $tree-$n: the plan does not move ${*: -1}.conf aside:"
			note "$(head -n 20 "$work/$id.out" | sed 's/^/    /')"
		fi
		;;
	esac
	say "timing $tree-$n: $name"
	local cmd
	cmd=$(printf '%q ' "$@")
	if ! hyperfine -N --style none --output=pipe "${hf_runs[@]}" \
		--export-json "$work/$id.json" "$cmd" >"$work/$id.hyperfine" 2>&1; then
		[ $must -eq 0 ] || failed=1
		note "FAILED: $tree-$n: $name failed while being timed: $*"
		note "$(head -n 20 "$work/$id.hyperfine" | sed 's/^/    /')"
		printf '%s\t%s\t%s\t-\t-\tfailed while timed\t-\n' "$tree" "$n" "$name" >>"$results"
		return 0
	fi
	/usr/bin/time -o "$work/$id.time" -f %M "$@" >/dev/null 2>&1
	local instructions=-
	if [ $quick -eq 0 ] && [ -n "$valgrind" ] && [ "${1#"$ipsecmgr"}" != "$1" ]; then
		say "counting $tree-$n: $name"
		instructions=$("$valgrind" --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
			sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | tail -n 1)
		[ -n "$instructions" ] || instructions=-
	fi
	printf '%s\t%s\t%s\t%s\t%s\tok\t%s\n' "$tree" "$n" "$name" "$work/$id.json" \
		"$(tail -n 1 "$work/$id.time")" "$instructions" >>"$results"
}

for n in "${sizes[@]}"; do
	for tree in one frag; do
		dir=$work/$tree-$n
		fragments=0
		[ "$tree" = frag ] && fragments=$n
		say "generating $tree-$n"
		"$gen_tree" "$n" "$fragments" "$dir"
		measure "$tree" "$n" cat find "$dir/etc" -type f -name '*.conf' -exec cat '{}' +
		measure "$tree" "$n" lint "$ipsecmgr" --root "$dir" lint
		measure "$tree" "$n" compile "$ipsecmgr" --root "$dir" compile
		if [ "$tree" = frag ]; then
			measure "$tree" "$n" "rm -n" "$ipsecmgr" --root "$dir" rm -n \
				"$(printf 'customer-%05d' $((n / 2)))"
		fi
		if [ -n "$addconn" ]; then
			"$gen_libreswan" "$n" "$fragments" "$dir/libreswan"
			measure "$tree" "$n" addconn "$addconn" --checkconfig \
				--config "$dir/libreswan/ipsec.conf"
		fi
		rm -rf "$dir"
	done
done

report=$work/report.md
{
	echo "## Machine"
	echo
	echo "- cpus: $(nproc)"
	echo "- cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "- kernel: $(uname -sr)"
	echo "- rustc: $(rustc --version)"
	echo "- hyperfine: $(hyperfine --version)"
	echo "- ipsecmgr: $(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "- load average (1, 5, 15 min): $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
	echo "- mode: $([ $quick -eq 1 ] && echo quick || echo full), runs: ${hf_runs[*]}"
	echo
} >"$report"

target_status=0
python3 - "$results" "$quick" >>"$report" <<'EOF' || target_status=$?
import json
import sys

results_path, quick = sys.argv[1], sys.argv[2] == "1"
rows = []
for line in open(results_path):
    tree, n, cmd, js, peak, status, instr = line.rstrip("\n").split("\t")
    median = peak_mb = None
    if status == "ok":
        median = json.load(open(js))["results"][0]["median"] * 1000
        peak_mb = int(peak) / 1024 if peak.isdigit() else None
    rows.append(dict(tree=tree, n=int(n), cmd=cmd, median=median, peak=peak_mb,
                     status=status, instr=int(instr) if instr.isdigit() else None))

def get(tree, n, cmd):
    for r in rows:
        if (r["tree"], r["n"], r["cmd"]) == (tree, n, cmd):
            return r
    return None

def med(tree, n, cmd):
    r = get(tree, n, cmd)
    return r["median"] if r else None

def instr(tree, n, cmd):
    r = get(tree, n, cmd)
    return r["instr"] if r else None

def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)

def ratio(a, b):
    return a / b if a is not None and b else None

sizes = sorted({r["n"] for r in rows})
commands = ["cat", "lint", "compile", "rm -n", "addconn"]
ours = ("lint", "compile", "rm -n")
print("## Results (median of each command; peak = max RSS)")
print()
print("`× lint`: the command's median over lint's on the same tunnels (for")
print("addconn: how many times longer Libreswan's check takes than lint).")
print("`instructions`: counted by callgrind in one run (full mode only).")
print()
print("| tree | N | command | median ms | × cat | × lint | growth vs N/10 | peak MB | instructions | growth (instr.) |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for n in sizes:
    for tree in ("one", "frag"):
        for cmd in commands:
            r = get(tree, n, cmd)
            if r is None:
                if cmd == "rm -n" and tree == "one":
                    print(f"| {tree} | {n} | {cmd} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
                continue
            if r["status"] != "ok":
                print(f"| {tree} | {n} | {cmd} | FAILED ({r['status']}) | | | | | | |")
                continue
            m = r["median"]
            x_cat = ratio(m, med(tree, n, "cat")) if cmd in ours else None
            x_lint = ratio(m, med(tree, n, "lint")) if cmd in ("rm -n", "addconn") else None
            growth = ratio(m, med(tree, n // 10, cmd))
            i = r["instr"]
            i_growth = ratio(i, instr(tree, n // 10, cmd))
            print(
                f"| {tree} | {n} | {cmd} | {m:.1f} | {fmt(x_cat, '.2f')} | "
                f"{fmt(x_lint, '.2f')} | {fmt(growth, '.2f')} | {fmt(r['peak'], '.1f')} | "
                f"{fmt(i and i / 1e6, ',.1f')}{'' if i is None else ' M'} | {fmt(i_growth, '.2f')} |"
            )
print()

checks = []

def check(label, value, limit, unit=""):
    if value is None:
        checks.append(("SKIP", label, "not measured"))
    else:
        ok = value <= limit
        checks.append(("PASS" if ok else "FAIL", label, f"{value:.2f}{unit} (limit {limit}{unit})"))

big = 10000
print("## Targets")
print()
if quick or big not in sizes:
    print("not checked: they are about N = 10000 (run without --quick)")
else:
    check("lint one-10000 ≤ 40 ms", med("one", big, "lint"), 40, " ms")
    check("lint one-10000 ≤ 20× cat", ratio(med("one", big, "lint"), med("one", big, "cat")), 20, "×")
    check("compile one-10000 ≤ 60 ms", med("one", big, "compile"), 60, " ms")
    check("lint frag-10000 ≤ 1.3× cat", ratio(med("frag", big, "lint"), med("frag", big, "cat")), 1.3, "×")
    check("rm -n frag-10000 ≤ 1.2× lint of the same tree",
          ratio(med("frag", big, "rm -n"), med("frag", big, "lint")), 1.2, "×")
    for tree in ("one", "frag"):
        for cmd in ours:
            if tree == "one" and cmd == "rm -n":
                continue
            check(f"{cmd} {tree}-10000 ≤ 10.5× {cmd} {tree}-1000 (instructions)",
                  ratio(instr(tree, big, cmd), instr(tree, 1000, cmd)), 10.5, "×")
    for tree in ("one", "frag"):
        for cmd in ours:
            if tree == "one" and cmd == "rm -n":
                continue
            r = get(tree, big, cmd)
            check(f"peak memory of {cmd} {tree}-10000 ≤ 25 MB",
                  r["peak"] if r else None, 25, " MB")
    for verdict, label, detail in checks:
        print(f"- {verdict}: {label}: {detail}")
    passed = sum(v == "PASS" for v, _, _ in checks)
    print()
    print(f"{passed} of {len(checks)} targets met")
print()
lines = []
for n in sizes:
    for tree in ("one", "frag"):
        x = ratio(med(tree, n, "addconn"), med(tree, n, "lint"))
        if x is not None:
            lines.append(f"- {tree}-{n}: addconn {med(tree, n, 'addconn'):.1f} ms, "
                         f"lint {med(tree, n, 'lint'):.1f} ms: addconn takes {x:.2f}× lint's time")
if lines:
    print("## Against Libreswan (addconn --checkconfig)")
    print()
    print("\n".join(lines))
    print()
sys.exit(1 if any(v != "PASS" for v, _, _ in checks) else 0)
EOF

if [ -s "$notes" ]; then
	{
		echo "## Notes"
		echo
		cat "$notes"
		echo
	} >>"$report"
fi

cat "$report"
if [ -n "$out_file" ]; then
	cp "$report" "$out_file"
fi

if [ $failed -ne 0 ]; then
	say "compare.sh: an ipsecmgr command failed (see Notes)"
	exit 2
fi
if [ $quick -eq 0 ] && [ $target_status -ne 0 ]; then
	exit 1
fi
exit 0
