# An S3-speaking server for the poster tests: moto in server mode (PyPI `moto[server]`),
# installed into a virtualenv under target/ when missing, on a free loopback port.
s3_venv="target/s3-venv"
if [ ! -x "$s3_venv/bin/moto_server" ]; then
  apt_install python3-venv
  python3 -m venv "$s3_venv"
  "$s3_venv/bin/pip" install --quiet 'moto[server]'
fi
mkdir -p "$TEST_RUN_DIR/s3"
s3_port="$(free_port)"
"$s3_venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" > "$TEST_RUN_DIR/s3/moto.log" 2>&1 &
echo $! >> "$TEST_RUN_DIR/pids"
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$s3_port/')" 2>/dev/null && break
  sleep 0.1
done
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$s3_port/')" \
  || { cat "$TEST_RUN_DIR/s3/moto.log"; exit 1; }
export TICKITECKING_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
