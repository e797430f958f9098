# aiosmtpd, for tests/mail.rs (e-mail delivered to a real SMTP server on loopback; each test
# starts its own on a free port): a pinned version in a virtualenv under target/, installed
# from PyPI when missing. Exports TICKITECKING_TEST_AIOSMTPD_PYTHON, the Python that runs it.
AIOSMTPD_VERSION=1.4.6
SMTP_VENV="$PWD/target/smtp-venv"
if ! "$SMTP_VENV/bin/python" -m aiosmtpd --version 2>/dev/null | grep -q "$AIOSMTPD_VERSION"; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
  fi
  rm -rf "$SMTP_VENV"
  python3 -m venv "$SMTP_VENV"
  "$SMTP_VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
export TICKITECKING_TEST_AIOSMTPD_PYTHON="$SMTP_VENV/bin/python"
"$TICKITECKING_TEST_AIOSMTPD_PYTHON" -m aiosmtpd --version
