# The browser tests (tests/browser.rs): Debian's chromium, a font for its pages and
# screenshots, node, and playwright-core pinned by tests/browser/package-lock.json. No
# browser is downloaded (`npx playwright install` needs the internet): the tests launch
# /usr/bin/chromium.
apt_install chromium fonts-dejavu-core
# Node from elsewhere (e.g. NodeSource) is kept: Debian's npm package would conflict with it.
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  npm ci --prefix tests/browser --no-audit --no-fund
fi
