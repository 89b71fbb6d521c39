#!/usr/bin/env bash
# Fuzzes everything FarmLokal parses from outside with cargo-fuzz (libFuzzer): a script, not part of the test
# command (too slow for CI). Targets (fuzz/fuzz_targets/): cursor, listing_query, webhook_signature,
# webhook_event, webhook_http, client_ip, domain_values, accept_encoding.
#
#   scripts/fuzz.sh                       every target for FUZZ_SECONDS (60) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh cursor listing_query
#
# Installs cargo-fuzz with `cargo install` when it is missing. cargo fuzz needs nightly compiler flags; with a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it use them. Runs under `nice -n 10`. Each target's corpus grows in
# fuzz/corpus/<target> (not committed); a crash leaves its input in fuzz/artifacts/<target>/ and fails the run
# (replay it: `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>` from fuzz/'s parent).
# Writes a table of runs per target to bench/results/fuzz-latest.md and bench/results/fuzz-YYYY-MM-DD-HHMM.md.
# Knobs: FUZZ_SECONDS (60), FUZZ_JOBS (1: parallel fuzzing processes per target), FUZZ_RSS_MB (2048).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
JOBS="${FUZZ_JOBS:-1}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
ALL=(cursor listing_query webhook_signature webhook_event webhook_http client_ip domain_values accept_encoding)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (cargo install, a few minutes)" >&2
    nice -n 10 cargo install cargo-fuzz --locked
fi

echo "building the fuzz targets (release, instrumented; the first build takes several minutes)" >&2
nice -n 10 cargo fuzz build

STAMP="$(date -u +%Y-%m-%d-%H%M)"
mkdir -p bench/results
REPORT="bench/results/fuzz-$STAMP.md"
{
    echo "# Fuzzing run $STAMP UTC"
    echo
    echo "Command: \`FUZZ_SECONDS=$SECONDS_EACH scripts/fuzz.sh${*:+ $*}\` on $(nproc) CPU(s), $(rustc --version)."
    echo
    echo "| target | seconds | runs | corpus entries | crashes |"
    echo "| --- | ---: | ---: | ---: | ---: |"
} >"$REPORT"

failed=0
for target in "${TARGETS[@]}"; do
    echo "== $target: ${SECONDS_EACH}s" >&2
    mkdir -p "fuzz/corpus/$target"
    log="$(mktemp)"
    status=0
    parallel=()
    if [ "$JOBS" -gt 1 ]; then parallel=(-jobs="$JOBS" -workers="$JOBS"); fi
    nice -n 10 cargo fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -print_final_stats=1 "${parallel[@]}" \
        >"$log" 2>&1 || status=$?
    # With -jobs, each job logs to fuzz-N.log in the working directory.
    runs="$( (cat "$log" fuzz-*.log 2>/dev/null || true) | grep -o 'stat::number_of_executed_units: *[0-9]*' \
        | awk '{s+=$2} END {print s+0}')"
    rm -f fuzz-*.log
    corpus="$(find "fuzz/corpus/$target" -type f | wc -l)"
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed=1
        tail -n 60 "$log" >&2
        echo "!! $target failed; its input is in fuzz/artifacts/$target/" >&2
    fi
    echo "| $target | $SECONDS_EACH | $runs | $corpus | $crashes |" >>"$REPORT"
    rm -f "$log"
done

cp "$REPORT" bench/results/fuzz-latest.md
cat "$REPORT"
exit "$failed"
