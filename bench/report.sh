# The end of every bench/run.sh, sourced by it: `finish` (its EXIT trap) and `report` (the Markdown table into
# RESULTS_DIR through bench/tool.py table). They read run.sh's settings and helpers when they run.

# At every exit: the report written if it was not (saying where a run that stopped early stopped), the server
# settings put back, then the processes and the work dir cleaned up.
finish() {
    local status=$?
    trap - ERR
    set +e
    if [ "$REPORTED" = 0 ] && [ "${ONLY:-}" != prepare ]; then
        [ "$status" = 0 ] || STOPPED="${STOPPED:-stopped with exit status $status in section \"$CURRENT_SECTION\"}"
        report || status=1
        [ "$status" = 0 ] && [ -n "$STOPPED" ] && status=1
    fi
    restore_general_log
    if [ -n "$RESTORE_POOL" ]; then mysql_client -e "SET GLOBAL innodb_buffer_pool_size = $RESTORE_POOL" 2>/dev/null; fi
    cleanup
    exit "$status"
}
# report: the Markdown table into RESULTS_DIR (latest.md and a dated copy); its status is 1 when a selected row
# was not measured or the run stopped early (STOPPED). Runs once, from the end of the script or from the EXIT trap.
report() {
    REPORTED=1
    set +eu
    section "report"
    local status=0 mysql_version pool redis_version
    mkdir -p "$RESULTS_DIR"
    mysql_version="$(mysql_client -e 'SELECT VERSION()' 2>/dev/null || echo '?')"
    pool="$(mysql_client -e 'SELECT @@innodb_buffer_pool_size DIV 1048576' 2>/dev/null || echo '?')"
    redis_version="$(redis-cli -h "${REDIS_HOST_PORT%:*}" -p "${REDIS_HOST_PORT##*:}" INFO server 2>/dev/null \
        | sed -n 's/^redis_version:\(.*\)\r*$/\1/p' | tr -d '\r')"
    BENCH_META_COMMAND="$COMMAND" BENCH_META_ONLY="$ONLY" BENCH_META_STOPPED="$STOPPED" python3 - "$WORK_DIR/meta.json" <<EOF
import json, os, platform, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "?"
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or "?"
mem_kb = int(sh("awk '/MemTotal/ {print \$2}' /proc/meminfo") or 0)
commit = """${BENCH_BIN:+given binary, not this checkout}""" or sh("git rev-parse --short HEAD") + (" + uncommitted changes" if sh("git status --porcelain -- src Cargo.toml Cargo.lock") else "")
meta = {
    "date": "$(date '+%Y-%m-%d %H:%M %Z')", "command": os.environ["BENCH_META_COMMAND"], "commit": commit,
    "build": """${BUILD:-not built: the run stopped first}""",
    "nproc": int(sh("nproc") or 0), "cpu": cpu, "memory": f"{mem_kb / 1048576:.1f} GiB RAM",
    "kernel": "Linux " + platform.release(),
    "mysql_version": """$mysql_version""", "buffer_pool": "$pool MiB", "redis_version": """${redis_version:-?}""",
    "wrk_version": """$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)""",
    "products": $PRODUCTS, "database": "$DATABASE", "threads": $THREADS, "connections": $CONNECTIONS,
    "duration": $DURATION, "warmup": $WARMUP, "deep_page": $DEEP_PAGE, "b_urls": ${B_URLS:-0}, "d_urls": ${D_URLS:-0},
    "d_connections": $SEARCH_CONNECTIONS, "b_rate": $B_RATE, "rate_rows": ${RATE_ROWS:-0},
    "oha_version": """$("${OHA:-oha}" --version 2>/dev/null | head -1 || echo "oha $OHA_VERSION")""", "c_connections": $C_CONNECTIONS, "c_delay_ms": $C_DELAY_MS,
    "only": os.environ["BENCH_META_ONLY"], "stopped": os.environ["BENCH_META_STOPPED"], "capture": "$CAPTURE", "fresh_changes": $FRESH_CHANGES,
    "fresh_spread": $FRESH_SPREAD, "fresh_timeout": $FRESH_TIMEOUT, "mysql_transport": "${MYSQL_TRANSPORT:-tcp}",
}
json.dump(meta, open(sys.argv[1], "w"))
EOF
    if [ -n "${BENCH_RESULTS:-}" ]; then cp "$RESULTS" "$WORK_DIR/meta.json" "$RESULTS_DIR/"; fi
    # Rendered into a temporary file first: a failing report leaves the previous files as they were, never an empty
    # one. tool.py table exits 1 when a selected row was not measured or the run stopped early.
    python3 bench/tool.py table "$RESULTS" "$WORK_DIR/meta.json" >"$RESULTS_DIR/$STAMP.md.tmp" || status=1
    if [ -s "$RESULTS_DIR/$STAMP.md.tmp" ]; then
        mv "$RESULTS_DIR/$STAMP.md.tmp" "$RESULTS_DIR/$STAMP.md"
        cp "$RESULTS_DIR/$STAMP.md" "$RESULTS_DIR/latest.md"
        cat "$RESULTS_DIR/latest.md"
        note "written: $RESULTS_DIR/latest.md and $RESULTS_DIR/$STAMP.md"
    else
        rm -f "$RESULTS_DIR/$STAMP.md.tmp"
        echo "no report could be written" >&2
        status=1
    fi
    [ "$status" = 0 ] || note "exit status 1: see the report's first lines for what was not measured"
    return "$status"
}
