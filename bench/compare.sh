#!/usr/bin/env bash
# Before/after benchmark of two builds of FarmLokal, side by side in one run:
#   bench/compare.sh <before> [<after>]
# each a git revision (built here, in its own worktree under /tmp with CARGO_TARGET_DIR=<worktree>/target/bench,
# about 6 minutes on 2 cores; the worktree is removed at exit) or the path of an already built release binary.
# <after> defaults to HEAD.
#
# It measures rows (e), (a), (b) and (b_rate) of bench/run.sh (which does the work: BENCH_BIN, BENCH_DATA,
# BENCH_RESULTS), alternating the two binaries in ABBA order (before, after, after, before, ...) for
# COMPARE_ROUNDS rounds per binary (default 4, at least 2), so a drift of the shared machine's speed hits both
# sides alike. Every round uses the same seeded data and the same (b) URL set: the walks are made once, through
# the before binary, and reused; a build that rejects the walked cursors (400 invalid_cursor, i.e. the cursor
# format changed) gets "not measured" for (b) instead of a row of errors. Each service start has a fresh Redis
# prefix. InnoDB's buffer pool is set once for the whole run (BENCH_BUFFER_POOL, 1G) and restored at exit.
# The other BENCH_* knobs of bench/run.sh (BENCH_PRODUCTS, BENCH_DURATION, BENCH_WARMUP, ...) apply to every round.
#
# The report goes to stdout and to bench/results/compare-YYYY-MM-DD-HHMM.md and bench/results/compare-latest.md.
# Reading it: per row and metric, each side's per-round values in the order run, their median, range (min-max)
# and spread ((max - min) / median); after/before is the ratio of the medians. "within noise" means the two
# sides' ranges overlap: the difference is no larger than what one build shows from round to round. Otherwise
# the verdict says "ranges apart", which side is ahead and, where a direction is better, whether after is better
# or WORSE. With few rounds a side the ranges understate the noise: an A/A run (the same binary on both sides)
# shows how often this machine puts ranges apart by itself. (a) as a share of its own build's (e) cancels most of the machine's drift within a round. The
# per-round table below it shows the drift itself (a trend shared by both sides) and the error count of every
# round (it should be 0).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ] || [[ "$1" == -* ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
COMMAND="bench/compare.sh $*"
for var in COMPARE_ROUNDS BENCH_PRODUCTS BENCH_DEEP_PAGE BENCH_DURATION BENCH_WARMUP BENCH_THREADS BENCH_CONNECTIONS BENCH_B_RATE \
    BENCH_BUFFER_POOL; do
    if [ -n "${!var:-}" ]; then COMMAND="$var=${!var} $COMMAND"; fi
done
ROUNDS="${COMPARE_ROUNDS:-4}"
if [ "$ROUNDS" -lt 2 ]; then echo "COMPARE_ROUNDS must be at least 2" >&2; exit 2; fi
POOL="${BENCH_BUFFER_POOL:-1G}"
STAMP="$(date +%Y-%m-%d-%H%M)"
RUN_ID="compare-$(date +%s)"
RESULTS_DIR=bench/results

WORK_DIR="$(mktemp -d /tmp/farmlokal-compare.XXXXXX)"
# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
WORKTREES=()
ORIGINAL_POOL=""
finish() {
    local tree
    if [ -n "$ORIGINAL_POOL" ]; then mysql_client -e "SET GLOBAL innodb_buffer_pool_size = $ORIGINAL_POOL" || true; fi
    for tree in "${WORKTREES[@]}"; do
        if [ "${COMPARE_KEEP_BUILDS:-0}" = 1 ]; then
            note "kept the build $tree/target/bench/release/farmlokal (COMPARE_KEEP_BUILDS=1)"
        else
            git worktree remove --force "$tree" || true
        fi
    done
    cleanup
}
trap finish EXIT
trap 'exit 130' INT TERM

# resolve SIDE ARG: sets BIN_<side> and LABEL_<side> from a binary path or a revision (built in a worktree).
resolve() {
    local side="$1" arg="$2" bin label sha tree
    if [ -f "$arg" ] && [ -x "$arg" ]; then
        bin="$(realpath "$arg")"
        label="binary \`$bin\`"
        if tree="$(git -C "$(dirname "$bin")" rev-parse --show-toplevel 2>/dev/null)"; then
            sha="$(git -C "$tree" rev-parse --short HEAD)"
            if [ -n "$(git -C "$tree" status --porcelain -- src Cargo.toml Cargo.lock)" ]; then
                sha="$sha + uncommitted changes"
            fi
            label="$label (in the checkout $tree at $sha)"
        fi
    else
        sha="$(git rev-parse --verify --quiet "$arg^{commit}")" || { echo "$side: '$arg' is neither an executable file nor a revision" >&2; exit 2; }
        tree="$(mktemp -d "/tmp/farmlokal-compare-$side.XXXXXX")"
        git worktree add --quiet --detach "$tree" "$sha"
        WORKTREES+=("$tree")
        section "$side: release build of $arg (${sha:0:7}) in $tree"
        (cd "$tree" && CARGO_TARGET_DIR="$tree/target/bench" cargo build --release --quiet)
        bin="$tree/target/bench/release/farmlokal"
        label="revision \`$arg\` = $(git log -1 --format='%h %s' "$sha" | cut -c1-100)"
    fi
    printf -v "BIN_$side" '%s' "$bin"
    printf -v "LABEL_$side" '%s' "$label"
    note "$side: $label"
}
# shellcheck disable=SC2034 # set here, read through ${!bin_var} and in the report
BIN_before="" BIN_after="" LABEL_before="" LABEL_after=""
resolve before "$1"
resolve after "${2:-HEAD}"

section "servers"
servers_up
MYSQL_HOST_PORT="$(sed -E 's#^mysql://([^@/]*@)?([^/?]+).*#\2#' <<<"$FARMLOKAL_TEST_MYSQL_URL")"
mysql_client() {
    "$(find_binary mariadb mysql)" --protocol=TCP -h"${MYSQL_HOST_PORT%:*}" -P"${MYSQL_HOST_PORT##*:}" -uroot -N -B "$@"
}
if [ "$POOL" != default ]; then
    # Set once for the whole run: each round's run.sh then finds it at this size (no resize between rounds).
    ORIGINAL_POOL="$(mysql_client -e 'SELECT @@innodb_buffer_pool_size')"
    mysql_client -e "SET GLOBAL innodb_buffer_pool_size = $(numfmt --from=iec "$POOL")"
    note "innodb_buffer_pool_size $ORIGINAL_POOL -> $POOL until the end of the comparison"
fi

# run LOG [ENV=VALUE ...]: bench/run.sh with the shared knobs; its output goes to LOG (shown when it fails).
run() {
    local log="$1"
    shift
    if ! env BENCH_DATA="$WORK_DIR/data" BENCH_BUFFER_POOL="$POOL" "$@" bench/run.sh >"$log" 2>&1; then
        # A run that wrote its report with a row "not measured" (exit 1) still counts: that row shows as such.
        if grep -q '^\*\*Not measured\*\*' "$log" && ! grep -q '^\*\*The run stopped early' "$log"; then
            note "bench/run.sh: a row was not measured (exit 1); the round keeps what it measured"
            return 0
        fi
        tail -40 "$log" >&2
        echo "bench/run.sh failed (log above)" >&2
        exit 1
    fi
}

section "data and (b) URL set, walked through the before binary"
run "$WORK_DIR/prepare.log" BENCH_BIN="$BIN_before" BENCH_ONLY=prepare BENCH_RUN_ID="$RUN_ID-prepare"
grep -E '^seeded|^  (walks and URL sets|\(b\):)' "$WORK_DIR/prepare.log" | sed 's/^ */  /' || true

ROUND_ARGS=()
for ((i = 0; i < 2 * ROUNDS; i++)); do
    case $((i % 4)) in 0 | 3) side=before ;; *) side=after ;; esac
    bin_var="BIN_$side"
    dir="$WORK_DIR/round-$((i + 1))"
    mkdir -p "$dir"
    section "round $((i + 1)) of $((2 * ROUNDS)): $side"
    run "$dir/run.log" BENCH_BIN="${!bin_var}" BENCH_ONLY="e a b" BENCH_RESULTS="$dir" \
        BENCH_RUN_ID="$RUN_ID-$((i + 1))-$side"
    grep -E '^  (e|a|b|b_rate): |walked cursor URLs|not measured' "$dir/run.log" | cut -c1-160 || true
    ROUND_ARGS+=("$side:$dir")
done

section "report"
python3 - "$WORK_DIR/compare-meta.json" "$WORK_DIR/round-1/meta.json" <<EOF
import json, sys
first = json.load(open(sys.argv[2]))
meta = {k: first[k] for k in ("products", "threads", "connections", "duration", "warmup", "b_rate")}
meta.update({
    "date": "$(date '+%Y-%m-%d %H:%M %Z')", "command": """$COMMAND""",
    "before": """$LABEL_before""", "after": """$LABEL_after""",
    "machine": f"{first['nproc']} CPUs ({first['cpu']}), {first['memory']}; {first['kernel']}; "
               f"MariaDB {first['mysql_version']} (buffer pool {first['buffer_pool']}); Redis {first['redis_version']}; "
               f"{first['wrk_version']}; {first['oha_version']}",
})
json.dump(meta, open(sys.argv[1], "w"))
EOF
mkdir -p "$RESULTS_DIR"
python3 bench/tool.py compare "$RESULTS_DIR/compare-$STAMP.md" "$WORK_DIR/compare-meta.json" "${ROUND_ARGS[@]}"
cp "$RESULTS_DIR/compare-$STAMP.md" "$RESULTS_DIR/compare-latest.md"
note "written: $RESULTS_DIR/compare-$STAMP.md and $RESULTS_DIR/compare-latest.md"
