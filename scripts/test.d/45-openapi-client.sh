# openapi-python-client and openapi-spec-validator, for tests/openapi_client.rs (a typed
# client generated from the served OpenAPI document walks every flow): the versions pinned
# in tests/openapi_client/requirements.txt, in a virtualenv under target/, installed from
# PyPI when missing or when the pins change. Exports OPENAPI_CLIENT_VENV, where the test
# finds them.
OPENAPI_CLIENT_VENV="$PWD/target/openapi-client-venv"
OPENAPI_CLIENT_REQUIREMENTS="$PWD/tests/openapi_client/requirements.txt"
if ! cmp -s "$OPENAPI_CLIENT_REQUIREMENTS" "$OPENAPI_CLIENT_VENV/installed-requirements.txt"; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
  fi
  rm -rf "$OPENAPI_CLIENT_VENV"
  python3 -m venv "$OPENAPI_CLIENT_VENV"
  "$OPENAPI_CLIENT_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$OPENAPI_CLIENT_REQUIREMENTS"
  # Written last: an install that failed halfway is redone next time.
  cp "$OPENAPI_CLIENT_REQUIREMENTS" "$OPENAPI_CLIENT_VENV/installed-requirements.txt"
fi
export OPENAPI_CLIENT_VENV
"$OPENAPI_CLIENT_VENV/bin/openapi-python-client" --version
