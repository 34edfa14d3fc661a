#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints the number
# of executions per target. Exits non-zero if any target crashed; the
# crashing input is in fuzz/artifacts/<target>/. Installs cargo-fuzz if it
# is missing. cargo fuzz needs nightly features: RUSTC_BOOTSTRAP=1 unlocks
# them on the stable toolchain.
#
#   fuzz/run.sh 60                 # every target, 60 s each
#   fuzz/run.sh 600 stateful       # one target, 10 minutes
#
# The official vectors (MLS_TEST_VECTORS, default ../test-vectors/official)
# seed the corpora.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi

vectors="${MLS_TEST_VECTORS:-$(cd .. && pwd)/test-vectors/official}"
echo "== building the fuzz targets"
cargo fuzz build -O
echo "== seeding corpora from $vectors, ../test-vectors/pq and a live group"
cargo run --quiet --release --bin seed -- corpus "$vectors" ../test-vectors/pq

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    # `seed` is the corpus writer, not a target.
    mapfile -t targets < <(cargo fuzz list | grep -vx seed)
fi

mkdir -p logs
failed=()
printf '%-24s %12s %8s\n' target executions "exec/s"
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    # Regression inputs run first, as part of the corpus.
    extra=()
    if [ -d "regressions/$t" ]; then extra=("regressions/$t"); fi
    if cargo fuzz run -O "$t" "corpus/$t" "${extra[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"logs/$t.log" 2>&1; then
        status=""
    else
        status="CRASHED (see fuzz/logs/$t.log, fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    printf '%-24s %12s %8s %s\n' "$t" "$runs" "$rate" "$status"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
echo "no crashes"
