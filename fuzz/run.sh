#!/bin/sh
# Fuzzes each target for a while with cargo-fuzz.
#
#   fuzz/run.sh [SECONDS | --quick] [TARGET...]
#
# SECONDS per target (default 300; --quick: 20).  TARGETs default to all
# of them.  Runs on stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# nightly-only flags, and `-s none` skips the sanitizer, whose runtime only
# nightly toolchains ship.  New inputs go to fuzz/corpus/TARGET, crashes to
# fuzz/artifacts/TARGET; logs to fuzz/target/logs/TARGET.log.  Prints each
# target's executions and coverage; exits non-zero if any target crashed.
#
# A run adds every input that reaches new code to fuzz/corpus/TARGET; shrink
# it back before committing, e.g. `RUSTC_BOOTSTRAP=1 cargo fuzz cmin TARGET
# -s none`, or a libFuzzer `-merge=1 -use_counters=0` into the seeds.
set -u

cd "$(dirname "$0")" || exit 2

seconds=300
case "${1:-}" in
--quick) seconds=20; shift ;;
''|*[!0-9]*) ;;
*) seconds=$1; shift ;;
esac

targets="$*"
[ -n "$targets" ] || targets="compile include_tree sa_report isakmpd_report"

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "installing cargo-fuzz" >&2
	cargo install cargo-fuzz || exit 2
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none || exit 2

mkdir -p target/logs
status=0
for t in $targets; do
	log=target/logs/$t.log
	mkdir -p "corpus/$t"
	cargo fuzz run "$t" -s none -- \
		-max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
		>"$log" 2>&1
	rc=$?
	# libFuzzer's last status line: `#N  DONE|pulse|NEW ... cov: X ft: Y ...`
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(printf '%s\n' "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
	cov=$(printf '%s\n' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	if [ "$rc" -eq 0 ]; then
		echo "$t: ok, ${seconds}s, execs ${execs:-?}, cov ${cov:-?}, ft ${ft:-?}"
	else
		status=1
		echo "$t: FAILED (exit $rc), execs ${execs:-?}, cov ${cov:-?}; see fuzz/$log"
		grep -E 'panicked at|^SUMMARY|Test unit written to' "$log" | head -n 5
	fi
done
exit $status
