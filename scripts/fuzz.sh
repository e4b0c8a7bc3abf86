#!/usr/bin/env bash
# Fuzzes the parsers that face the network (fuzz/fuzz_targets/) with
# libFuzzer through cargo-fuzz, each target for a fixed budget
# (FUZZ_SECONDS, default 20), starting from the committed seeds in
# fuzz/corpus/<target>. New inputs go to target/fuzz-corpus, so the seeds
# stay small; a crash fails the run and leaves its input in
# fuzz/artifacts/<target>/, to be turned into a regression test.
#
# cargo-fuzz needs a nightly toolchain (sanitizers); the script installs
# cargo-fuzz when it is missing and uses `rustup run nightly`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
# The crate forbids unsafe code, so AddressSanitizer has little to find in
# it and doubles the build; the default is libFuzzer's coverage-guided
# search alone (panics, overflows, hangs, runaway memory). FUZZ_SANITIZER=address
# brings ASan back.
sanitizer=${FUZZ_SANITIZER:-none}

if ! rustup run nightly rustc --version >/dev/null 2>&1 && ! rustup toolchain install nightly --profile minimal; then
  # cargo-fuzz's sanitizers need nightly; a machine that has none and
  # cannot fetch one says so loudly rather than failing for that alone.
  echo "SKIPPED: fuzzing needs a nightly toolchain and none could be installed"
  exit 0
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2

# The fuzz crate is its own workspace. Its sanitizer builds go to a cache
# outside the clone (FUZZ_TARGET_DIR), so a fresh clone on the same machine
# does not rebuild every dependency.
unset CARGO_TARGET_DIR
target_dir=${FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis/fuzz-target}
mkdir -p "$target_dir"
targets=$(cd fuzz && rustup run nightly cargo fuzz list)
[ -n "$targets" ] || { echo "cargo fuzz list found no targets"; exit 1; }
rustup run nightly cargo fuzz build --sanitizer "$sanitizer" --fuzz-dir fuzz --target-dir "$target_dir"
status=0
for target in $targets; do
  echo "== fuzz $target (${seconds}s)"
  work="target/fuzz-corpus/$target"
  mkdir -p "$work"
  if ! rustup run nightly cargo fuzz run --sanitizer "$sanitizer" --fuzz-dir fuzz --target-dir "$target_dir" "$target" "$work" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"target/fuzz-$target.log" 2>&1; then
    tail -n 40 "target/fuzz-$target.log"
    echo "fuzz target $target failed; its input is under fuzz/artifacts/$target/"
    status=1
  else
    grep -E "^(stat::number_of_executed_units|Done)" "target/fuzz-$target.log" || true
  fi
done
exit $status
