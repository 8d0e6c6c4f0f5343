#!/usr/bin/env bash
# ceph/s3-tests against `berth s3 serve`: builds berth, starts it on 127.0.0.1 with a fresh data directory and
# fixed root keys, creates the accounts the suite wants (main = the first account, alt, tenant, iam) with
# `berth s3 account create`, writes the suite's configuration, runs the suite with Debian's python3 packages and
# prints the results by area (docs/s3-tests.md says what fails and why).
# Usage: S3TESTS_DIR=/path/to/s3-tests bench/s3-tests.sh [PYTEST ARGS...]   (as root; default: test_s3.py and
#        test_headers.py; OUT=DIR keeps the junit XML, the configuration and the server log there)
# The server runs with --legacy-bucket-defaults (buckets with ACLs enabled and no Block Public Access, as S3 made them
# before April 2023, which is what the suite assumes); BERTH_S3_FLAGS= replaces the flags. No api_name is configured:
# the endpoint's region is us-east-1, which S3 refuses as a LocationConstraint, so test_bucket_get_location skips.
# Dependencies (no PyPI): apt-get install python3-pytest python3-boto3 python3-botocore python3-munch
#        python3-gevent python3-isodate python3-requests python3-tz python3-httplib2 python3-lxml python3-yaml
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
: "${S3TESTS_DIR:?set S3TESTS_DIR to a checkout of github.com/ceph/s3-tests}"
S3TESTS_DIR=$(cd "$S3TESTS_DIR" && pwd)
OUT=${OUT:-$(mktemp -d /tmp/berth-s3-tests-XXXXXX)}
mkdir -p "$OUT"
export PATH=/usr/local/go/bin:$PATH
# Debian's python3, with the python3-* packages below. S3TESTS_PYTHON=python3 runs the suite with another Python
# 3.11 instead (this machine's pyenv one has boto3 1.43; Debian's boto3 1.26 lacks parameters the suite sends, such as
# IfMatch on DeleteObject and CRC64NVME): its own boto3 and botocore, everything else from Debian's packages.
PY=${S3TESTS_PYTHON:-/usr/bin/python3}

need=()
for pkg in python3-pytest python3-boto3 python3-botocore python3-munch python3-gevent python3-isodate \
	python3-requests python3-tz python3-httplib2 python3-lxml python3-yaml; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/berth-s3-tests-run-XXXXXX)
if [ "$PY" != /usr/bin/python3 ]; then
	mkdir -p "$WORK/pydeps"
	(cd /usr/lib/python3/dist-packages &&
		for f in lxml* httplib2* pyparsing* munch* isodate* gevent* greenlet* zope* pytest* _pytest pluggy* iniconfig* \
			py py.py py-*-info pytz* more_itertools*; do
			[ -e "$f" ] && ln -s "$PWD/$f" "$WORK/pydeps/$f"
		done)
	export PYTHONPATH=$WORK/pydeps
	$PY -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)'
fi
SERVER=
cleanup() {
	set +e
	if [ -n "$SERVER" ]; then
		kill "$SERVER"
		wait "$SERVER"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

"$REPO/scripts/build.sh" "$WORK" >/dev/null   # berth finds berthd (s3 serve) next to itself
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BERTH_ROOT_ACCESS_KEY_ID=AKIAS3TESTSMAIN00001 BERTH_ROOT_SECRET_ACCESS_KEY=s3testsmainsecretkey0000000000000000000001
"$WORK/berth" s3 serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" ${BERTH_S3_FLAGS---legacy-bucket-defaults} >"$OUT/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

export AWS_ACCESS_KEY_ID=$BERTH_ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_ROOT_SECRET_ACCESS_KEY
for a in alt tenant iam; do
	"$WORK/berth" s3 account create "$a" --endpoint-url "http://127.0.0.1:$PORT" --format json >"$WORK/$a.json"
done
"$WORK/berth" s3 account ls --endpoint-url "http://127.0.0.1:$PORT" --format json >"$WORK/accounts.json"

$PY - "$WORK" "$PORT" "$OUT/s3tests.conf" <<'EOF'
import json, sys
work, port, out = sys.argv[1], sys.argv[2], sys.argv[3]
acct = {a["Name"]: a for a in map(json.loads, open(f"{work}/accounts.json"))}
keys = {n: json.load(open(f"{work}/{n}.json")) for n in ("alt", "tenant", "iam")}
main = acct["berth"]
def section(name, a, key, secret, email, extra=""):
    return (f"[{name}]\ndisplay_name = {a['Name']}\nuser_id = {a['CanonicalID']}\nemail = {email}\n"
            f"access_key = {key}\nsecret_key = {secret}\n{extra}\n")
conf = (f"[DEFAULT]\nhost = 127.0.0.1\nport = {port}\nis_secure = False\nssl_verify = False\n\n"
        "[fixtures]\nbucket prefix = s3t-{random}-\niam name prefix = s3-tests-\niam path prefix = /s3-tests/\n\n"
        + section("s3 main", main, "AKIAS3TESTSMAIN00001", "s3testsmainsecretkey0000000000000000000001",
                  "main@example.com")
        + section("s3 alt", keys["alt"], keys["alt"]["AccessKeyID"], keys["alt"]["SecretAccessKey"], "alt@example.com")
        + section("s3 tenant", keys["tenant"], keys["tenant"]["AccessKeyID"], keys["tenant"]["SecretAccessKey"],
                  "tenant@example.com", "tenant = tenant\n")
        + section("iam", keys["iam"], keys["iam"]["AccessKeyID"], keys["iam"]["SecretAccessKey"], "iam@example.com")
        + f"[iam root]\naccess_key = AKIAS3TESTSMAIN00001\nsecret_key = s3testsmainsecretkey0000000000000000000001\n"
          f"user_id = {main['ID']}\nemail = main@example.com\n\n"
        + f"[iam alt root]\naccess_key = {keys['alt']['AccessKeyID']}\nsecret_key = {keys['alt']['SecretAccessKey']}\n"
          f"user_id = {keys['alt']['ID']}\nemail = alt@example.com\n")
open(out, "w").write(conf)
EOF

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
[ $# -gt 0 ] || set -- s3tests/functional/test_s3.py s3tests/functional/test_headers.py
rc=0
(cd "$S3TESTS_DIR" && S3TEST_CONF="$OUT/s3tests.conf" $PY -m pytest -p no:cacheprovider -q -rN \
	--junitxml="$OUT/junit.xml" "$@" >"$OUT/pytest.log" 2>&1) || rc=$?
tail -1 "$OUT/pytest.log"
$PY "$REPO/bench/internal/s3tests/areas.py" "$OUT/junit.xml" "$S3TESTS_DIR" | tee "$OUT/summary.txt"
echo "results: $OUT (junit.xml, pytest.log, server.log, s3tests.conf, summary.txt, failures.tsv)"
# pytest exits 1 when a test failed: that is the expected outcome here, reported above, not a script failure.
[ $rc -le 1 ]
