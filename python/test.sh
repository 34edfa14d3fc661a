#!/usr/bin/env bash
# Builds and installs the Python package (`pip install ./python`) into a
# virtual environment, then runs its pytest suite, `mypy --strict` on the
# examples, and both examples (the plotting one writes target/sweep.png).
# The repository's test command (`cargo test --workspace --all-features`)
# runs this script (app-api/tests/python_package.rs), with MLSX_BIN set to
# the `mlsx` binary it built, which the simulator test compares against.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${MLSX_PY_VENV:-$here/target/venv}"
# The package has its own Cargo workspace and target folder: never another
# build's (a CARGO_TARGET_DIR from outside would share a lock with it).
unset CARGO_TARGET_DIR
export CARGO_TARGET_DIR="$here/target"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" pytest mypy matplotlib pandas
echo "== pip install ./python"
# The `quick` profile (Cargo.toml): the release profile less optimised, to
# keep the repository's test run short; `pip install ./python` alone
# builds the release profile.
MATURIN_PEP517_ARGS="${MATURIN_PEP517_ARGS:---profile quick}" "${pip[@]}" "$here"

cd "$here"
echo "== pytest"
# The pytest script, not `python -m pytest`: the current folder (with the
# package's sources, not the built extension) stays off the import path.
"$venv/bin/pytest" -q -p no:cacheprovider tests
echo "== mypy --strict examples"
"$py" -m mypy --strict --no-incremental examples
echo "== examples"
"$py" examples/hybrid_group.py
"$py" examples/sweep_plot.py --members 3,6 --epochs 2 --out "$here/target/sweep.png"
test -s "$here/target/sweep.png"
