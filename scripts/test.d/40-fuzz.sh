# schemathesis, for tests/fuzz.rs (the API fuzzed from its OpenAPI document): a pinned
# version in a virtualenv under target/, installed from PyPI when missing. Exports
# SCHEMATHESIS, the path the test runs.
SCHEMATHESIS_VERSION=4.32.5
FUZZ_VENV="$PWD/target/fuzz-venv"
if ! "$FUZZ_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
  fi
  rm -rf "$FUZZ_VENV"
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SCHEMATHESIS="$FUZZ_VENV/bin/schemathesis"
"$SCHEMATHESIS" --version
