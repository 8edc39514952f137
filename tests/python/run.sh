#!/usr/bin/env bash
# The Python package's tests (tests/python/test_*.py, unittest) under
# Debian's /usr/bin/python3 (NumPy, torch) and under the first python3 on
# PATH when that is another interpreter (it may lack NumPy: those tests skip,
# saying so), then `pip install ./python` into a throw-away venv, offline.
# Needs build/librecur.so (make). Usage: tests/python/run.sh [unittest args]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -e build/librecur.so ] || { echo "tests/python: build/librecur.so missing (run make)" >&2; exit 1; }
pythons=()
[ -x /usr/bin/python3 ] && pythons+=(/usr/bin/python3)
first="$(command -v python3 || true)"
if [ -n "$first" ] && [ "$(readlink -f "$first")" != "$(readlink -f /usr/bin/python3)" ]; then
  # pyenv shims resolve elsewhere: compare the interpreters themselves.
  if [ "$("$first" -c 'import sys; print(sys.executable)')" != /usr/bin/python3 ]; then pythons+=("$first"); fi
fi
[ ${#pythons[@]} -gt 0 ] || { echo "tests/python: no python3 found: skipped"; exit 0; }
for py in "${pythons[@]}"; do
  ver="$("$py" -c 'import sys; print(sys.version.split()[0])')"
  have="$("$py" -c '
mods = []
for m in ("numpy", "torch"):
    try:
        __import__(m); mods.append(m)
    except ImportError:
        mods.append("no " + m)
print(", ".join(mods))')"
  echo "tests/python: $py (Python $ver; $have)"
  log="$(mktemp)"
  rc=0
  "$py" -m unittest discover -v -s tests/python -t tests/python "$@" >"$log" 2>&1 || rc=$?
  # The totals, and why tests skipped (once per reason).
  grep -E '^(Ran |OK|FAILED)' "$log" | sed 's/^/  /'
  grep -o "skipped '.*'" "$log" | sort | uniq -c | sed 's/^ */  /' || true
  if [ "$rc" != 0 ]; then
    cat "$log" >&2; rm -f "$log"
    echo "tests/python: FAILED under $py" >&2; exit 1
  fi
  rm -f "$log"
done
# pip install ./python with no network: --no-build-isolation uses the
# installed setuptools and wheel (Debian: python3-setuptools python3-wheel);
# a venv, as Debian's own python3 refuses system-wide installs (PEP 668).
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
if /usr/bin/python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1 &&
   "$venv/bin/python" -c 'import setuptools, wheel' 2>/dev/null; then
  cp -r python "$venv/src"
  "$venv/bin/pip" install -q --no-build-isolation --no-index "$venv/src" >/dev/null
  (cd "$venv" && RECUR_LIBRARY="$OLDPWD/build/librecur.so" bin/python -c '
import recur, sys
assert recur.__file__.startswith(sys.prefix), recur.__file__
assert recur.library_version() == recur.__version__
print("tests/python: pip install ./python (offline, in a venv): ok")')
else
  echo "tests/python: pip install check skipped (needs python3-venv, python3-setuptools, python3-wheel)"
fi
