#!/usr/bin/env bash
# (11) in BENCHMARKS.md: the two service examples (examples/ingest.rs,
# examples/http_streaming.rs) beside plain tokio/futures versions of the same programs
# (benches/programs/*_tokio.rs): lines of code, throughput, CPU time and peak RSS.
#
#   scripts/compare_programs.sh            # from the repository root
#
# Settings (environment): RUNS (3; the table shows the median of the runs),
# INGEST_LINES (17,750,000: a 200 MB input), HTTP_CLIENTS (8), HTTP_COUNT (250,000 event
# lines of 100 bytes per client), PROGRAMS ("ingest http_streaming": which to measure),
# CARGO_BUILD_JOBS (1). Runs the variants alternately
# (spillway, tokio, spillway, ...) so a neighbour's load hits both alike.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
INGEST_LINES=${INGEST_LINES:-17750000}
HTTP_CLIENTS=${HTTP_CLIENTS:-8}
HTTP_COUNT=${HTTP_COUNT:-250000}
PROGRAMS=${PROGRAMS:-ingest http_streaming}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
BENCHES=(ingest_spillway ingest_tokio http_streaming_spillway http_streaming_tokio)

work=$(mktemp -d "${TMPDIR:-/tmp}/compare-programs.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "building (release, bench profile, -j$CARGO_BUILD_JOBS) ..." >&2
declare -A exe
while IFS=' ' read -r name path; do
    exe[$name]=$path
done < <(cargo bench --no-run --message-format=json "${BENCHES[@]/#/--bench=}" |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
')
for b in "${BENCHES[@]}"; do
    [[ -n ${exe[$b]:-} ]] || { echo "no executable for $b (does cargo bench --no-run build?)" >&2; exit 1; }
done

# Non-blank lines that are not `//` comments, of a whole file and of its program part:
# the lines before the first line matching $2 (where the demo client or the
# measurement driver begins).
loc() { grep -v '^[[:space:]]*$' "$1" | grep -cv '^[[:space:]]*//'; }
loc_until() {
    awk -v stop="$2" '$0 ~ stop { exit } { print }' "$1" |
        grep -v '^[[:space:]]*$' | grep -cv '^[[:space:]]*//'
}

# Runs one measurement: prints "<throughput> <peak RSS kB> <cpu s>".
measure() {
    local out="$work/out" err="$work/err"
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -v "$@" >"$out" 2>"$err"
    else
        "$@" >"$out" 2>"$err"
    fi
    local result
    result=$(grep '^RESULT ' "$out") || { cat "$out" "$err" >&2; exit 1; }
    python3 - "$result" "$err" <<'EOF'
import re, sys
fields = dict(f.split("=", 1) for f in sys.argv[1].split()[1:])
err = open(sys.argv[2]).read()
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
user = re.search(r"User time \(seconds\): ([\d.]+)", err)
system = re.search(r"System time \(seconds\): ([\d.]+)", err)
cpu = float(user.group(1)) + float(system.group(1)) if user and system else float("nan")
throughput = fields.get("lines_per_s") or fields.get("payload_mb_per_s")
print(throughput, rss.group(1) if rss else fields["vmhwm_kb"], f"{cpu:.2f}")
EOF
}

want() { [[ " $PROGRAMS " == *" $1 "* ]]; }

if want ingest; then
    echo "generating the ingest input: $INGEST_LINES lines ..." >&2
    "${exe[ingest_spillway]}" --generate "$work" --lines "$INGEST_LINES" >/dev/null
    input="$work/ingest-input.csv"
    input_mb=$(($(stat -c %s "$input") / 1000000))
fi

declare -A runs
for ((i = 1; i <= RUNS; i++)); do
    for v in spillway tokio; do
        if want ingest; then
            echo "run $i/$RUNS: ingest $v" >&2
            runs[ingest_$v]+="$(measure "${exe[ingest_$v]}" --input "$input")"$'\n'
        fi
        if want http_streaming; then
            echo "run $i/$RUNS: http_streaming $v" >&2
            runs[http_streaming_$v]+="$(measure "${exe[http_streaming_$v]}" --no-check \
                --clients "$HTTP_CLIENTS" --count "$HTTP_COUNT")"$'\n'
        fi
    done
done

# The median of column $2 of the runs of $1 (columns: throughput, RSS kB, CPU s).
median() { printf '%s' "${runs[$1]}" | awk -v c="$2" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
all() { printf '%s' "${runs[$1]}" | awk -v c="$2" '{ printf "%s%s", sep, $c; sep = ", " }'; }

row() { # program variant file stop-regex unit
    local key="$1_$2"
    local tp rss cpu
    tp=$(median "$key" 1)
    rss=$(median "$key" 2)
    cpu=$(median "$key" 3)
    if [[ $5 == lines/s ]]; then tp=$(awk -v t="$tp" 'BEGIN { printf "%.2f M lines/s", t / 1e6 }'); else tp="$tp MB/s"; fi
    printf '| %s | %s | %s | %s | %s | %.1f MB | %s s |\n' "$1" "$2" \
        "$(loc_until "$3" "$4")" "$(loc "$3")" "$tp" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$cpu"
}

echo
echo "machine: $(nproc) cores, $(uname -sr); load average before the table: $(cut -d' ' -f1-3 /proc/loadavg)"
want ingest && echo "ingest: $input_mb MB, $INGEST_LINES lines, sink 0 ms, no drain"
want http_streaming && echo "http: $HTTP_CLIENTS clients x $HTTP_COUNT lines of 100 B over loopback"
echo "median of $RUNS runs, each column on its own; LOC = non-blank, non-comment lines (program part / whole file)"
echo
echo '| program | variant | LOC program | LOC file | throughput | peak RSS | CPU (user+sys) |'
echo '|---|---|---:|---:|---:|---:|---:|'
if want ingest; then
    row ingest spillway examples/ingest.rs '^#\[tokio::main\]' lines/s
    row ingest tokio benches/programs/ingest_tokio.rs '^#\[tokio::main\]' lines/s
fi
if want http_streaming; then
    row http_streaming spillway examples/http_streaming.rs '^/// A minimal HTTP client' MB/s
    row http_streaming tokio benches/programs/http_streaming_tokio.rs '^#\[tokio::main\]' MB/s
fi
echo
echo "every run (throughput; RSS kB; CPU s):"
for p in $PROGRAMS; do
    for v in spillway tokio; do
        echo "  ${p}_$v: $(all "${p}_$v" 1); $(all "${p}_$v" 2); $(all "${p}_$v" 3)"
    done
done
