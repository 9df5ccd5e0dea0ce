#!/bin/bash
# bench-compare.sh: builds tt-bench (Release) and the anchor programs of shared/bench/anchors,
# runs both in one sitting through the anchors' med3/gate machinery (median of 3, each run under
# /tmp/bench.lock after the quiet gate), and prints a Markdown table of tothread against the
# anchors with the issue's targets, pass/fail.
#
#   tools/bench-compare.sh                       every workload, every anchor that builds here
#   tools/bench-compare.sh -w W1,W2 -s libuv     chosen workloads / anchor systems
#   options: -w LIST   workloads (W1..W9; default all; W8/W9 are the network ones)
#            -s LIST   anchor systems: libuv glib floor python go tokio (default: all; go and
#                      tokio only when their toolchains are installed). floor is the assembly
#                      switch under W5 and tools/stack-floor under W6/W7 cold
#            -r K      runs per measurement (default 3)
#            -o DIR    where results.txt and table.md go (default /tmp/bench-compare)
#            -B DIR    tothread build directory (default /tmp/build-bench)
#            -n        no build: reuse the binaries of an earlier run
#            -a DIR    the anchors' folder (default: $ANCHORS_DIR, else ../shared/bench/anchors
#                      next to this checkout)
# W8 (TCP echo) and W9 (echo + checksum on a 4-thread pool) run tools/examples/echo-server
# against the anchors of anchors/net (epoll floor, libuv, Tokio, Go, asyncio), all built out of
# tree into OUT/bin/net with the anchors' netload client and serve_and_load.sh; knobs as
# anchors/net/run.sh: CONNS=100 SIZE=128 DUR=5 WORK=1. TT_SERVER overrides the echo-server binary.
# Environment: TT_BENCH overrides the tt-bench binary, STACK_FLOOR the stack-floor one (default:
# BUILD's; skipped where there is none); GATE_MAX_WAIT_S caps the quiet gate's wait per run (default here 30 s, so a busy
# machine cannot stretch the sitting past ~15 minutes; bg_cpu_pct in the table shows how busy
# it was). A line whose median bg_cpu_pct is above 10 should be re-run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ANCH=${ANCHORS_DIR:-$ROOT/../shared/bench/anchors}

WORKLOADS="W1 W2 W3 W4 W5 W6 W7 W8 W9"
SYSTEMS="libuv glib floor python go tokio"
RUNS=3
OUT=/tmp/bench-compare
BUILD=/tmp/build-bench
NOBUILD=0
while getopts "w:s:r:o:B:a:nh" opt; do
    case $opt in
    w) WORKLOADS=$(echo "$OPTARG" | tr ',a-z' ' A-Z') ;;
    s) SYSTEMS=$(echo "$OPTARG" | tr ',' ' ') ;;
    r) RUNS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    B) BUILD=$OPTARG ;;
    n) NOBUILD=1 ;;
    a) ANCH=$OPTARG ;;
    *) sed -n '2,/^set -u/{/^#/p}' "$0"; exit 2 ;;
    esac
done
[ -f "$ANCH/common/med3.py" ] || { echo "bench-compare: no anchors in '$ANCH' (-a DIR or ANCHORS_DIR)" >&2; exit 2; }
ANCH=$(cd "$ANCH" && pwd)
export GATE_MAX_WAIT_S=${GATE_MAX_WAIT_S:-30}
BIN=$OUT/bin
mkdir -p "$BIN"
RES=$OUT/results.txt
: >"$RES"
log() { echo "# $*" >&2; }
has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; esac; return 1; }
want() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------------------------ build
# Anchors are compiled out of tree (shared/ is read-only) with their Makefiles' flags.
CFLAGS_ANCHOR="-O2 -g -Wall -Wextra"
ACTIVE=""
build_all() {
    if [ -n "${TT_BENCH:-}" ]; then
        log "using TT_BENCH=$TT_BENCH"
    elif ! { log "building tt-bench (Release) in $BUILD"; cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTT_BUILD_TESTS=OFF >/dev/null &&
           cmake --build "$BUILD" --target tt-bench stack-floor -j2 >/dev/null; }; then
        log "tt-bench build failed"; exit 1
    fi
    for s in $SYSTEMS; do
        case $s in
        libuv)
            pkg-config --exists libuv || { log "libuv: no libuv1-dev (apt-get install libuv1-dev); skipped"; continue; }
            cc $CFLAGS_ANCHOR $(pkg-config --cflags libuv) -o "$BIN/uv-bench" "$ANCH/libuv/bench.c" \
                $(pkg-config --libs libuv) || { log "libuv build failed; skipped"; continue; } ;;
        glib)
            pkg-config --exists gio-2.0 || { log "glib: no libglib2.0-dev; skipped"; continue; }
            cc $CFLAGS_ANCHOR $(pkg-config --cflags gio-2.0) -o "$BIN/glib-bench" "$ANCH/glib/bench.c" \
                $(pkg-config --libs gio-2.0) || { log "glib build failed; skipped"; continue; } ;;
        floor)
            cc $CFLAGS_ANCHOR -o "$BIN/ctxswitch" "$ANCH/floor/ctxswitch.c" || { log "floor build failed; skipped"; continue; } ;;
        python)
            python3 -c 'import sys; assert sys.version_info[:2] >= (3, 11)' 2>/dev/null ||
                { log "python: no python3 >= 3.11; skipped"; continue; } ;;
        go)
            command -v go >/dev/null || { log "go: no Go toolchain here (apt-get install golang-go); skipped"; continue; }
            (cd "$ANCH/go" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$OUT/gocache go build -o "$BIN/anchors-go" .) >&2 ||
                { log "go build failed; skipped"; continue; } ;;
        tokio)
            { command -v cargo >/dev/null && [ -d /usr/share/cargo/registry/tokio-1.24.2 ]; } ||
                { log "tokio: needs cargo and Debian's librust-tokio-dev; skipped"; continue; }
            # Cargo writes only under CARGO_TARGET_DIR; the manifest dir may stay read-only.
            (cd "$ANCH/tokio" && CARGO_TARGET_DIR=$OUT/tokio-target cargo build --release --offline -q) >&2 &&
                cp "$OUT/tokio-target/release/tokio-anchors" "$BIN/anchors-tokio" ||
                { log "tokio build failed; skipped"; continue; } ;;
        *) log "unknown system $s; skipped"; continue ;;
        esac
        ACTIVE="$ACTIVE $s"
    done
}
# The network anchors, mirrored under $NET (serve_and_load.sh finds netload in its bin/, and
# the asyncio server its libfnv.so in ../bin/): the anchors' directory stays read-only.
NET=$BIN/net
NETSYS=""
build_net() {
    local A=$ANCH/net s
    if [ $NOBUILD = 1 ]; then
        for s in epoll $SYSTEMS; do
            case $s in
            epoll | libuv | tokio | go) [ -x "$NET/bin/server_$s" ] ;;
            python) [ -f "$NET/python/server.py" ] ;;
            *) false ;;
            esac && NETSYS="$NETSYS $s"
        done
        return
    fi
    mkdir -p "$NET/bin" "$NET/python"
    if [ -z "${TT_SERVER:-}" ]; then
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTT_BUILD_TESTS=OFF >/dev/null &&
            cmake --build "$BUILD" --target example-echo-server -j2 >/dev/null || { log "echo-server build failed"; exit 1; }
    fi
    cp "$A/serve_and_load.sh" "$NET/" && cp "$A/python/server.py" "$NET/python/" &&
        cc $CFLAGS_ANCHOR -o "$NET/bin/netload" "$A/netload.c" &&
        cc $CFLAGS_ANCHOR -shared -fPIC -o "$NET/bin/libfnv.so" "$A/fnv_so.c" || { log "netload build failed"; exit 1; }
    for s in epoll $SYSTEMS; do
        case $s in
        epoll) cc $CFLAGS_ANCHOR -o "$NET/bin/server_epoll" "$A/server_epoll.c" -lpthread || continue ;;
        libuv) pkg-config --exists libuv && cc $CFLAGS_ANCHOR $(pkg-config --cflags libuv) -o "$NET/bin/server_libuv" \
                   "$A/server_libuv.c" $(pkg-config --libs libuv) || continue ;;
        tokio) command -v cargo >/dev/null && (cd "$A/tokio" && CARGO_TARGET_DIR=$OUT/tokio-net-target cargo build --release --offline -q) >&2 &&
                   cp "$OUT/tokio-net-target/release/server-tokio" "$NET/bin/server_tokio" || continue ;;
        go) command -v go >/dev/null && (cd "$A/go" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$OUT/gocache go build -o "$NET/bin/server_go" .) >&2 || continue ;;
        python) python3 -c 'import sys; assert sys.version_info[:2] >= (3, 11)' 2>/dev/null || continue ;;
        *) continue ;;
        esac
        NETSYS="$NETSYS $s"
    done
    log "network anchors built:$NETSYS"
}
if want W8 || want W9; then
    build_net
fi
if [ $NOBUILD = 1 ]; then
    for s in $SYSTEMS; do
        case $s in
        libuv) [ -x "$BIN/uv-bench" ] ;; glib) [ -x "$BIN/glib-bench" ] ;;
        floor) [ -x "$BIN/ctxswitch" ] ;; python) true ;;
        go) [ -x "$BIN/anchors-go" ] ;; tokio) [ -x "$BIN/anchors-tokio" ] ;; *) false ;;
        esac && ACTIVE="$ACTIVE $s"
    done
else
    build_all
fi
TT=${TT_BENCH:-$BUILD/tools/tt-bench}
[ -x "$TT" ] || { log "no $TT"; exit 1; }
# The kernel's floor under W6/W7 cold (tools/stack-floor), with the floor system.
SF=${STACK_FLOOR:-$BUILD/tools/stack-floor}
act() { case " $ACTIVE " in *" $1 "*) return 0 ;; esac; return 1; }
log "sitting $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cpus, $(uname -r); workloads: $WORKLOADS; anchors:$ACTIVE; runs=$RUNS gate<=${GATE_MAX_WAIT_S}s"

# ---------------------------------------------------------------------------- measure
# med3 takes /tmp/bench.lock and the quiet gate for every single run. tt-bench runs under a
# timeout so a hung runtime cannot eat the sitting.
M() { python3 "$ANCH/common/med3.py" --runs "$RUNS" "$@" | tee -a "$RES"; }
TTM() { M -- timeout -k 5 240 "$TT" "$@"; }
PY() { M "$@"; }
PYB=$ANCH/python/bench.py
T_START=$(date +%s)

# Interleaved per workload: tothread and its anchors back to back, so drift hits both alike.
if want W1; then
    TTM W1
    act libuv && M -- env UV_THREADPOOL_SIZE=4 "$BIN/uv-bench" W1
    act glib && M -- "$BIN/glib-bench" W1 pool4
    act go && M -- "$BIN/anchors-go" w1pool
    act tokio && M -- "$BIN/anchors-tokio" w1 ct
fi
if want W2; then
    TTM W2
    act libuv && M -- env UV_THREADPOOL_SIZE=4 "$BIN/uv-bench" W2
    act glib && M -- "$BIN/glib-bench" W2 pool4
    act go && M -- "$BIN/anchors-go" w2
    act tokio && M -- "$BIN/anchors-tokio" w2 ct
fi
if want W3; then
    TTM W3
    act libuv && M -- env UV_THREADPOOL_SIZE=64 "$BIN/uv-bench" W3
    act go && M -- "$BIN/anchors-go" w3pool
    act tokio && M -- "$BIN/anchors-tokio" w3 ct
fi
# W4 is also needed for W7's target (the time to spawn 100000 tasks).
if want W4 || want W7; then
    TTM W4
    if want W4; then
        act python && PY -- python3 "$PYB" W4
        act go && M -- "$BIN/anchors-go" w4
        act tokio && M -- "$BIN/anchors-tokio" w4 ct
    fi
fi
if want W5; then
    TTM W5
    act floor && M -- "$BIN/ctxswitch" asm 10000000
    act libuv && M -- "$BIN/uv-bench" W5 idle
    act python && PY -- python3 "$PYB" W5 --mode sleep0
    act go && M -- "$BIN/anchors-go" w5yield
    act tokio && M -- "$BIN/anchors-tokio" w5 ct
fi
if want W6; then
    TTM W6 100000
    TTM W6 --warm 1000000
    act libuv && M --rss -- "$BIN/uv-bench" W6 100000
    act libuv && M --rss -- "$BIN/uv-bench" W6 1000000
    act python && PY --rss -- python3 "$PYB" W6 100000
    act go && M --rss -- "$BIN/anchors-go" w6 1000000
    act floor && [ -x "$SF" ] && M -- "$SF" W6
    act tokio && M --rss -- "$BIN/anchors-tokio" w6 ct 1000000
fi
if want W7; then
    TTM W7 --warm
    act libuv && M -- "$BIN/uv-bench" W7
    act python && PY -- python3 "$PYB" W7
    act go && M -- "$BIN/anchors-go" w7ctx
    act floor && [ -x "$SF" ] && M -- "$SF" W7
    act tokio && M -- "$BIN/anchors-tokio" w7 ct
fi
# W8/W9: one server per run, started inside the measured command (anchors/net/run.sh's way).
NETARGS="--port {port} --mode {mode} --work ${WORK:-1} --size ${SIZE:-128}"
net_cmd() { # SYSTEM -> "line name|server command"
    case $1 in
    tothread) echo "tothread|${TT_SERVER:-$BUILD/tools/example-echo-server} $NETARGS" ;;
    epoll) echo "epoll-floor|$NET/bin/server_epoll $NETARGS" ;;
    libuv) echo "libuv|env UV_THREADPOOL_SIZE=4 $NET/bin/server_libuv $NETARGS" ;;
    tokio) echo "tokio1.24.2-ct|$NET/bin/server_tokio $NETARGS" ;;
    go) echo "go-gmp1|env GOMAXPROCS=1 $NET/bin/server_go $NETARGS" ;;
    python) echo "python-asyncio|python3 $NET/python/server.py --hash c $NETARGS" ;;
    esac
}
for W in W8 W9; do
    want $W || continue
    [ $W = W8 ] && mode=echo || mode=offload
    for s in tothread $NETSYS; do
        sp=$(net_cmd "$s")
        cmd=${sp#*|}
        M -- "$NET/serve_and_load.sh" "${cmd//\{mode\}/$mode}" $W --conns "${CONNS:-100}" \
            --size "${SIZE:-128}" --duration "${DUR:-5}" --work "${WORK:-1}" --system "${sp%%|*}"
    done
done
log "measured in $(( $(date +%s) - T_START )) s; raw lines in $RES"

# ------------------------------------------------------------------------------ table
python3 - "$RES" "$WORKLOADS" <<'EOF' | tee "$OUT/table.md"
import sys

rows = []  # (workload, system, dict)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) < 3 or line.startswith("#"):
        continue
    kv = dict(t.split("=", 1) for t in p[2:] if "=" in t)
    rows.append((p[0], p[1], kv))
wanted = sys.argv[2].split()


def find(w, system, n=None, prefix=False):
    for rw, rs, kv in rows:
        if rw != w or not (rs.startswith(system) if prefix else rs == system):
            continue
        if n is not None and kv.get("n") != str(n):
            continue
        return kv
    return None


def num(kv, k):
    try:
        return float(kv[k]) if kv and k in kv else None
    except ValueError:
        return None


def f(v, unit=""):
    if v is None:
        return "–"
    a = abs(v)
    s = "%.0f" % v if a >= 1000 else "%.1f" % v if a >= 100 else "%.2f" % v if a >= 10 else "%.3f" % v
    if a >= 10000:
        s = "{:,.0f}".format(v)
    return s + unit


def rng(kv, k):
    r = kv.get(k + "_range") if kv else None
    return " (%s)" % r.replace("..", "–") if r else ""


def bg(*kvs):
    vals = [kv.get("bg_cpu_pct") for kv in kvs if kv and kv.get("bg_cpu_pct")]
    return "/".join(vals) if vals else "–"


out = []
out.append("| workload | metric | tothread (min–max) | anchor | anchor value | ratio | target | result | bg cpu % |")
out.append("|---|---|---|---|---|---:|---|---|---|")


def row(w, metric, tt, k, anchor_name, an, ak, ratio, target, ok, bgs):
    tv = num(tt, k)
    av = num(an, ak) if an is not None else None
    out.append("| %s | %s | %s%s | %s | %s | %s | %s | %s | %s |" % (
        w, metric, f(tv), rng(tt, k), anchor_name, f(av) + (rng(an, ak) if an else ""),
        "–" if ratio is None else "%.3f" % ratio, target,
        "n/a" if ok is None else ("**pass**" if ok else "**FAIL**"), bgs))


def ratio(a, b):
    return a / b if a is not None and b else None


if "W1" in wanted:
    tt, uv = find("W1", "tothread"), find("W1", "libuv")
    r = ratio(num(tt, "calls_per_s"), num(uv, "calls_per_s"))
    row("W1", "calls/s (pool 4)", tt, "calls_per_s", "libuv uv_queue_work", uv, "calls_per_s",
        r, "≥ 1.5× libuv", None if r is None else r >= 1.5, bg(tt, uv))
if "W2" in wanted:
    tt, uv = find("W2", "tothread"), find("W2", "libuv")
    for k, lim in (("p50_us", 0.25), ("p99_us", 0.5)):
        r = ratio(num(tt, k), num(uv, k))
        row("W2", k.replace("_us", " µs"), tt, k, "libuv", uv, k, r, "≤ %.2f× libuv" % lim,
            None if r is None else r <= lim, bg(tt, uv))
    idle = find("IDLE", "tothread")
    v = num(idle, "cpu_pct")
    row("IDLE", "CPU % of a core, 1 s idle", idle, "cpu_pct", "–", None, None, None, "< 1 %",
        None if v is None else v < 1.0, bg(idle))
if "W3" in wanted:
    tt, uv = find("W3", "tothread"), find("W3", "libuv")
    v = num(tt, "wall_ms")
    r = v / 160.0 if v is not None else None
    row("W3", "wall ms (ideal 160)", tt, "wall_ms", "libuv (ratio %s)" % (uv or {}).get("ratio", "–"),
        uv, "wall_ms", r, "≤ 1.02× ideal", None if r is None else r <= 1.02, bg(tt, uv))
w4 = find("W4", "tothread")
if "W4" in wanted:
    v = num(w4, "tasks_per_s")
    best = None
    for rw, rs, kv in rows:
        if rw == "W4" and rs != "tothread" and num(kv, "tasks_per_s") is not None and (
                best is None or num(kv, "tasks_per_s") > num(best[1], "tasks_per_s")):
            best = (rs, kv)
    r = v / 15e6 if v is not None else None
    row("W4", "tasks/s (N=1M)", w4, "tasks_per_s", best[0] if best else "(absolute)",
        best[1] if best else None, "tasks_per_s", r, "≥ 15M/s (ratio to 15M)",
        None if v is None else v >= 15e6, bg(w4))
    peers = [(rs, kv) for rw, rs, kv in rows if rw == "W4" and rs.startswith(("go", "tokio"))
             and num(kv, "tasks_per_s") is not None]
    fast = max(peers, key=lambda p: num(p[1], "tasks_per_s")) if peers else None
    r = ratio(v, num(fast[1], "tasks_per_s")) if fast else None
    row("W4", "tasks/s (N=1M)", w4, "tasks_per_s", fast[0] if fast else "Go/Tokio",
        fast[1] if fast else None, "tasks_per_s", r, "≥ 1.2× faster of Go/Tokio (issue 13)",
        None if r is None else r >= 1.2, bg(w4, fast[1] if fast else None))
if "W5" in wanted:
    tt, fl = find("W5", "tothread"), find("FCS", "asm-x86_64")
    r = ratio(num(tt, "ns_per_switch"), num(fl, "ns_per_switch"))
    row("W5", "ns/switch, tt_yield", tt, "ns_per_switch", "floor FCS asm-x86_64", fl, "ns_per_switch",
        r, "≤ 1.6× FCS; ≤ 1.3× (issue 13)", None if r is None else r <= 1.3, bg(tt, fl))
    ev = find("W5", "tothread-event")
    if ev:
        r = ratio(num(ev, "ns_per_switch"), num(fl, "ns_per_switch"))
        row("W5", "ns/switch, tt_event", ev, "ns_per_switch", "floor FCS asm-x86_64", fl,
            "ns_per_switch", r, "(info)", None, bg(ev, fl))
    uv = find("W5", "libuv-idle")
    if uv:
        r = ratio(num(tt, "ns_per_switch"), num(uv, "ns_per_switch"))
        row("W5", "ns/switch, tt_yield", tt, "ns_per_switch", "libuv uv_idle", uv, "ns_per_switch",
            r, "(info)", None, bg(tt, uv))
if "W6" in wanted:
    for n in (100000, 1000000):
        tt, uv = find("W6", "tothread", n), find("W6", "libuv", n)
        tgt = n == 1000000
        v = num(tt, "wall_s")
        row("W6", "wall s, N=%d" % n, tt, "wall_s", "libuv timers", uv, "wall_s",
            ratio(v, num(uv, "wall_s")) if not tgt else (v / 1.8 if v is not None else None),
            "≤ 1.8 s (ratio to 1.8)" if tgt else "(info: ratio to libuv)",
            (None if v is None else v <= 1.8) if tgt else None, bg(tt, uv))
        v = num(tt, "rss_bytes_per_task")
        row("W6", "RSS bytes/task, N=%d" % n, tt, "rss_bytes_per_task", "libuv timers", uv,
            "rss_bytes_per_task", (v / 4608.0 if v is not None else None) if tgt else ratio(v, num(uv, "rss_bytes_per_task")),
            "≤ 4.5 KiB (ratio to 4608)" if tgt else "(info: ratio to libuv)",
            (None if v is None else v <= 4608) if tgt else None, bg(tt, uv))
        if tgt:
            row("W6", "RSS bytes/task, N=%d" % n, tt, "rss_bytes_per_task", "–", None, None,
                v / 4300.8 if v is not None else None, "≤ 4.2 KiB (issue 13)",
                None if v is None else v <= 4300.8, bg(tt))
            go, tk = find("W6", "go", n, prefix=True), find("W6", "tokio", n, prefix=True)
            r = ratio(num(tt, "wall_s"), num(go, "wall_s"))
            row("W6", "wall s, N=%d" % n, tt, "wall_s", go and "Go", go, "wall_s", r,
                "≤ Go's (issue 13)", None if r is None else r <= 1.0, bg(tt, go))
            # What no runtime with a guarded stack per task avoids: floor/Go above 1 means the
            # target was out of reach in this sitting whatever the runtime did.
            sf = find("W6", "stack-floor", n)
            if sf:
                reach = ratio(num(sf, "wall_s"), num(go, "wall_s"))
                row("W6", "wall s, N=%d" % n, tt, "wall_s", "stack floor", sf, "wall_s",
                    ratio(num(tt, "wall_s"), num(sf, "wall_s")),
                    "(info) floor/Go = %s" % ("–" if reach is None else "%.3f" % reach), None, bg(tt, sf))
            warm = find("W6", "tothread-warm", n)
            r = ratio(num(warm, "wall_s"), num(tk, "wall_s"))
            row("W6", "warm wall s, N=%d" % n, warm, "wall_s", tk and "Tokio", tk, "wall_s", r,
                "≤ Tokio's (issue 13)", None if r is None else r <= 1.0, bg(warm, tk))
if "W7" in wanted:
    tt, uv = find("W7", "tothread"), find("W7", "libuv")
    v, tps = num(tt, "wall_s"), num(w4, "tasks_per_s")
    lim = 1.2 * (0.050 + 100000 / tps) if tps else None
    ok = None if v is None or lim is None else (v <= lim and tt.get("timeouts") == tt.get("n"))
    row("W7", "wall s (timeouts %s/%s)" % ((tt or {}).get("timeouts", "?"), (tt or {}).get("n", "?")),
        tt, "wall_s", "libuv timers", uv, "wall_s", None if lim is None or v is None else v / lim,
        "≤ 1.2×(50 ms + W4 time for 100k) = %s s (ratio to it)" % (f(lim) if lim else "?"),
        ok, bg(tt, uv))
    tk = find("W7", "tokio", prefix=True)
    r = ratio(v, num(tk, "wall_s"))
    row("W7", "wall s", tt, "wall_s", tk and "Tokio", tk, "wall_s", r, "≤ Tokio's (issue 13)",
        None if r is None else r <= 1.0, bg(tt, tk))
    sf = find("W7", "stack-floor")
    if sf:
        reach = ratio(num(sf, "wall_s"), num(tk, "wall_s"))
        row("W7", "wall s", tt, "wall_s", "stack floor", sf, "wall_s", ratio(v, num(sf, "wall_s")),
            "(info) floor/Tokio = %s" % ("–" if reach is None else "%.3f" % reach), None, bg(tt, sf))
    warm = find("W7", "tothread-warm")
    r = ratio(num(warm, "wall_s"), num(uv, "wall_s"))
    row("W7", "warm wall s", warm, "wall_s", "libuv timers", uv, "wall_s", r,
        "≤ libuv's (issue 13)", None if r is None else r <= 1.0, bg(warm, uv))

NET_PEERS = ("libuv", "tokio", "go")
if "W8" in wanted:
    tt, fl = find("W8", "tothread"), find("W8", "epoll-floor")
    r = ratio(num(tt, "srv_us_per_req"), num(fl, "srv_us_per_req"))
    row("W8", "server CPU µs/request", tt, "srv_us_per_req", "epoll floor", fl, "srv_us_per_req",
        r, "≤ 0.85× floor", None if r is None else r <= 0.85, bg(tt, fl))
    peers = [(rs, kv) for rw, rs, kv in rows if rw == "W8" and rs.startswith(NET_PEERS)
             and num(kv, "srv_us_per_req") is not None]
    best = min(peers, key=lambda p: num(p[1], "srv_us_per_req")) if peers else None
    r = ratio(num(tt, "srv_us_per_req"), num(best[1], "srv_us_per_req")) if best else None
    row("W8", "server CPU µs/request", tt, "srv_us_per_req", best[0] if best else "libuv/Tokio/Go",
        best[1] if best else None, "srv_us_per_req", r, "≤ best of libuv/Tokio/Go",
        None if r is None else r <= 1.0, bg(tt, best[1] if best else None))
if "W9" in wanted:
    tt = find("W9", "tothread")
    peers = [(rs, kv) for rw, rs, kv in rows if rw == "W9" and rs.startswith(NET_PEERS + ("python-asyncio",))
             and num(kv, "req_per_s") is not None]
    best = max(peers, key=lambda p: num(p[1], "req_per_s")) if peers else None
    bkv = best[1] if best else None
    r = ratio(num(tt, "req_per_s"), num(bkv, "req_per_s"))
    row("W9", "requests/s", tt, "req_per_s", best[0] if best else "libuv/Tokio/Go/asyncio", bkv,
        "req_per_s", r, "≥ 1.5× best", None if r is None else r >= 1.5, bg(tt, bkv))
    r = ratio(num(tt, "p99_us"), num(bkv, "p99_us"))
    row("W9", "p99 µs", tt, "p99_us", best[0] if best else "–", bkv, "p99_us", r,
        "≤ 0.5× that one's p99", None if r is None else r <= 0.5, bg(tt, bkv))

print("\n".join(out))
print()
print("Other anchors measured in this sitting (median; see %s):" % sys.argv[1])
print()
print("| workload | system | n | headline |")
print("|---|---|---|---|")
HEAD = {"W1": ["calls_per_s"], "W2": ["p50_us", "p99_us"], "W3": ["wall_ms", "ratio"],
        "W4": ["tasks_per_s"], "W5": ["ns_per_switch"], "W6": ["wall_s", "peak_rss_mib", "rss_bytes_per_task"],
        "W7": ["wall_s", "timeouts"], "FCS": ["ns_per_switch"], "IDLE": ["cpu_pct", "loop_wakeups"],
        "W8": ["req_per_s", "p99_us", "srv_us_per_req"], "W9": ["req_per_s", "p99_us", "srv_us_per_req"]}
for w, s, kv in rows:
    print("| %s | %s | %s | %s |" % (w, s, kv.get("n", ""), " ".join(
        "%s=%s" % (k, kv[k]) for k in HEAD.get(w, []) if k in kv)))
EOF
