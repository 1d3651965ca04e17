#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and/or ThreadSanitizer, each in its own build folder.
#   bash Scripts/sanitize.sh [address|thread|both]   (default both; each is a full debug build)
# Any report makes the run fail. Logs: .build-asan/test.log, .build-tsan/test.log.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-both}"
run() {  # run <sanitizer> <folder> [swift test filter]
  echo "== swift test --sanitize=$1"
  local status=0
  mkdir -p "$2"
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
    swift test --sanitize="$1" --scratch-path "$2" ${3:+--filter "$3"} > "$2/test.log" 2>&1 || status=$?
  grep -E "Test run with|ERROR: (Address|Thread)Sanitizer|WARNING: ThreadSanitizer|SUMMARY" "$2/test.log" | head -20 || true
  if grep -qE "ERROR: AddressSanitizer|WARNING: ThreadSanitizer" "$2/test.log" || [ "$status" -ne 0 ]; then
    echo "$1: FAILED (see $2/test.log)"; return 1
  fi
  echo "$1: clean"
}
case "$WHICH" in
  address) run address .build-asan ;;
  thread) run thread .build-tsan ;;
  both) run address .build-asan; run thread .build-tsan ;;
  *) echo "usage: $0 [address|thread|both]"; exit 2 ;;
esac
