#!/usr/bin/env bash
# Instruction counts of fixed pipelines (benches/programs/instr_count.rs) on an older
# commit and on the working tree, under callgrind: exact and repeatable where wall-clock
# time on a shared machine is not. Used to check that a refactoring costs nothing
# (issue 13: every pipeline within 5% of before).
#
# Usage: scripts/instr-compare.sh BEFORE_REV [WORKLOAD ...]
# Needs valgrind (Debian: apt-get install valgrind). Builds go to target/instr-{before,after}.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rev="${1:?usage: scripts/instr-compare.sh BEFORE_REV [WORKLOAD ...]}"
shift
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then
  workloads=(sync merge flat_map into_stream buffer chunks latest map_async sample rate_drop rate_delay)
fi
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }

before="$(mktemp -d)/before"
git -C "$root" worktree add -q -f "$before" "$rev"
trap 'git -C "$root" worktree remove -f "$before"' EXIT
# The driver uses only the public API: built as an example of the older tree.
cp "$root/benches/programs/instr_count.rs" "$before/examples/instr_count.rs"
(cd "$before" && CARGO_TARGET_DIR="$root/target/instr-before" cargo build -q --release --example instr_count)
old="$root/target/instr-before/release/examples/instr_count"
new="$(cd "$root" && CARGO_TARGET_DIR="$root/target/instr-after" cargo build -q --release --bench instr_count \
  --message-format=json | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m["target"]["name"] == "instr_count": print(m["executable"])')"

count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" 2>&1 >/dev/null | awk '/Collected/ {print $NF}'; }
echo "| workload | instructions, $rev | working tree | ratio |"
echo "|---|---:|---:|---:|"
for w in "${workloads[@]}"; do
  b=$(count "$old" "$w"); a=$(count "$new" "$w")
  python3 -c "print(f'| $w | {$b:,} | {$a:,} | {$a/$b:.3f} |')"
done
