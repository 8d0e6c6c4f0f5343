"""Uploads cut short by kill -9 of the server, through boto3 (Debian's python3-boto3).

Usage:
  /usr/bin/python3 crash.py write ENDPOINT BUCKET
      Uploads objects from four threads and prints what happens, one line each, flushed:
        started KEY SHA256 SIZE    a PUT is about to be sent
        acked KEY SHA256 SIZE      the server answered 200
        stalled KEY                a PUT (presigned, plain HTTP) sent its headers and half its body, and waits
        part KEY UPLOAD_ID ETAG SHA256   a multipart upload's first part was acknowledged
        ready                      enough is acknowledged and in flight: kill the server now
      It runs until the server goes away.
  /usr/bin/python3 crash.py verify ENDPOINT BUCKET LOG
      Checks, after a restart, what LOG (write's output) says must hold, and prints the results as api.py does.
Keys come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

import hashlib
import http.client
import json
import os
import sys
import threading
import traceback
import urllib.parse

import boto3
import botocore
from botocore.config import Config

MODE, ENDPOINT, BUCKET = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                connect_timeout=5, read_timeout=60))
out_lock = threading.Lock()


def say(*words):
    with out_lock:
        print(*words, flush=True)


def write():
    stalled = []
    for i in range(3):
        key = f"stalled/{i}"
        url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=600))
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        conn.putrequest("PUT", url.path + "?" + url.query)
        conn.putheader("Content-Length", str(4 << 20))
        conn.endheaders()
        conn.send(os.urandom(2 << 20))
        stalled.append(conn)  # kept open, half sent, until the server dies
        say("stalled", key)
    part = os.urandom(5 << 20)
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="multipart/object")["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key="multipart/object", UploadId=up, PartNumber=1, Body=part)["ETag"]
    say("part", "multipart/object", up, etag, hashlib.sha256(part).hexdigest())

    acked = [0]
    ready = threading.Event()

    def worker(w):
        n = 0
        while True:
            n += 1
            key = f"objects/{w}/{n}"
            size = (64 << 10) * (1 + (n * 7 + w) % 24)  # 64 KiB (inline in the index) to 1.5 MiB (a blob file)
            data = os.urandom(size)
            digest = hashlib.sha256(data).hexdigest()
            say("started", key, digest, size)
            try:
                s3.put_object(Bucket=BUCKET, Key=key, Body=data)
            except Exception as e:  # the server is gone
                say("failed", key, type(e).__name__)
                return
            say("acked", key, digest, size)
            with out_lock:
                acked[0] += 1
                if acked[0] >= 40 and not ready.is_set():
                    ready.set()
                    print("ready", flush=True)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def verify(log):
    started, acked, stalled, parts = {}, {}, [], []
    for line in open(log):
        f = line.split()
        if not f:
            continue
        if f[0] == "started":
            started[f[1]] = (f[2], int(f[3]))
        elif f[0] == "acked":
            acked[f[1]] = (f[2], int(f[3]))
        elif f[0] == "stalled":
            stalled.append(f[1])
        elif f[0] == "part":
            parts.append(f[1:])
    results = []

    def run(name, fn):
        try:
            fn()
            results.append({"name": name, "error": None})
        except Exception:
            results.append({"name": name, "error": traceback.format_exc()})

    def read(key):
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return hashlib.sha256(body).hexdigest(), len(body)

    def exists(key):
        try:
            s3.head_object(Bucket=BUCKET, Key=key)
            return True
        except botocore.exceptions.ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise

    def acknowledged_are_whole():
        assert len(acked) >= 40, f"only {len(acked)} uploads were acknowledged before the kill"
        for key, want in acked.items():
            got = read(key)
            assert got == want, f"{key}: read back {got}, acknowledged {want}"

    def interrupted_are_invisible():
        for key in stalled:
            assert not exists(key), f"{key} was cut off mid-body, yet it exists"
        in_flight = [k for k in started if k not in acked]
        assert in_flight, "no upload was in flight at the kill"
        for key in in_flight:
            # The server may have committed it just before dying, unanswered: then it must be whole.
            if exists(key):
                got = read(key)
                assert got == started[key], f"{key} (unacknowledged) is there but not whole: {got}, sent {started[key]}"

    def listing_holds_nothing_else():
        keys, token = [], None
        while True:
            page = s3.list_objects_v2(Bucket=BUCKET, **({"ContinuationToken": token} if token else {}))
            keys += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
            if not page["IsTruncated"]:
                break
            token = page["NextContinuationToken"]
        for key, size in keys:
            assert key in started, f"listed {key}, which was never sent whole"
            assert size == started[key][1], f"{key} is listed with {size} bytes, sent {started[key][1]}"
        listed = {k for k, _ in keys}
        missing = [k for k in acked if k not in listed]
        assert not missing, f"acknowledged but not listed: {missing[:5]}"

    def acknowledged_part_survives():
        assert len(parts) == 1, parts
        key, upload_id, etag, digest = parts[0]
        assert not exists(key), "an uncompleted multipart upload is visible"
        listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"]
        assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, etag)], listed
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert read(key)[0] == digest, "the completed object is not the acknowledged part"

    run("acknowledged_are_whole", acknowledged_are_whole)
    run("interrupted_are_invisible", interrupted_are_invisible)
    run("listing_holds_nothing_else", listing_holds_nothing_else)
    run("acknowledged_part_survives", acknowledged_part_survives)
    json.dump(results, sys.stdout)
    print()


if MODE == "write":
    write()
else:
    verify(sys.argv[4])
