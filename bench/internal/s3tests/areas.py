#!/usr/bin/python3
"""Summarize a ceph/s3-tests junit XML by area: passed, failed (failures and errors) and skipped per area, and
how many of the failures are tests the suite itself marks fails_on_aws (Ceph RGW extensions that AWS S3 fails
too). Writes failures.tsv (test, area, markers, first line of the reason) next to the XML.

Usage: areas.py JUNIT_XML S3TESTS_DIR
"""
import ast
import collections
import os
import re
import sys
import xml.etree.ElementTree as ET

# Area of a test: by its pytest markers first, then by words of its name; first match wins.
MARKER_AREAS = [
    ("bucket_logging", "bucket logging"),
    ("bucket_logging_cleanup", "bucket logging"),
    ("encryption", "server-side encryption"),
    ("sse_s3", "server-side encryption"),
    ("bucket_encryption", "server-side encryption"),
    ("lifecycle", "lifecycle"),
    ("lifecycle_expiration", "lifecycle"),
    ("lifecycle_transition", "lifecycle"),
    ("cloud_transition", "lifecycle"),
    ("object_lock", "object lock"),
    ("bucket_policy", "bucket policy"),
    ("iam_account", "IAM"),
    ("iam_user", "IAM"),
    ("tagging", "tagging"),
    ("object_ownership", "ACL and ownership"),
    ("checksum", "checksums"),
    ("conditional_write", "conditional requests"),
    ("copy", "copy"),
    ("list_objects_v2", "listing"),
    ("auth_aws2", "auth SigV2 and headers"),
    ("auth_common", "auth SigV4 and headers"),
]
NAME_AREAS = [
    (r"logging", "bucket logging"),
    (r"encrypt|sse|kms", "server-side encryption"),
    (r"object_lock|retention|legal_hold", "object lock"),
    (r"lifecycle|_lc_|restore|transition", "lifecycle"),
    (r"post_object|_post_", "browser POST uploads"),
    (r"website", "website"),
    (r"policy|abac", "bucket policy"),
    (r"acl|grant|canned|ownership", "ACL and ownership"),
    (r"cors", "CORS"),
    (r"tagging|_tags?_|_tag$", "tagging"),
    (r"public_block|access_block", "public access block"),
    (r"checksum", "checksums"),
    (r"multipart|upload_part|list_parts|abort_", "multipart"),
    (r"version|delete_marker", "versioning"),
    (r"copy", "copy"),
    (r"ifmatch|if_match|ifnonematch|if_none|modified|conditional|precondition", "conditional requests"),
    (r"list|prefix|delimiter|marker|maxkeys|max_keys|continuation|startafter|start_after|fetchowner|encoding",
     "listing"),
    (r"range", "ranges"),
    (r"anonymous|anon_|presigned|presign|auth|signature|expires", "auth SigV4 and headers"),
    (r"^test_bucket|bucket_create|bucket_delete|bucket_head|bucket_name|buckets", "buckets"),
]


def markers(s3tests_dir):
    out = {}
    for f in ("test_s3.py", "test_headers.py", "test_iam.py", "test_sts.py", "test_s3select.py", "test_sns.py"):
        path = os.path.join(s3tests_dir, "s3tests", "functional", f)
        if not os.path.exists(path):
            continue
        for node in ast.parse(open(path).read()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                ms = []
                for d in node.decorator_list:
                    s = ast.unparse(d)
                    if s.startswith("pytest.mark."):
                        ms.append(s[len("pytest.mark."):].split("(")[0])
                out[node.name] = ms
    return out


def area(name, classname, ms):
    for m, a in MARKER_AREAS:
        if m in ms:
            return a
    if classname.endswith("test_headers"):
        return "auth SigV4 and headers"
    if classname.endswith("test_iam") or classname.endswith("test_sts"):
        return "IAM"
    if classname.endswith("test_s3select"):
        return "S3 Select"
    base = re.sub(r"\[.*\]$", "", name)
    for pattern, a in NAME_AREAS:
        if re.search(pattern, base):
            return a
    return "objects"


def main():
    xml, s3tests_dir = sys.argv[1], sys.argv[2]
    marks = markers(s3tests_dir)
    counts = collections.defaultdict(collections.Counter)
    rows = []
    for tc in ET.parse(xml).getroot().iter("testcase"):
        name, cls = tc.get("name"), tc.get("classname", "")
        ms = marks.get(re.sub(r"\[.*\]$", "", name), [])
        a = area(name, cls, ms)
        failed = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        if tc.find("skipped") is not None:
            counts[a]["skipped"] += 1
        elif failed is not None:
            counts[a]["failed"] += 1
            if "fails_on_aws" in ms:
                counts[a]["failed, fails_on_aws"] += 1
            msg = (failed.get("message") or failed.text or "").strip().splitlines()
            rows.append((name, a, ",".join(ms), msg[0][:300] if msg else ""))
        else:
            counts[a]["passed"] += 1
    total = collections.Counter()
    print(f"{'area':32} {'tests':>6} {'passed':>7} {'failed':>7} {'of which fails_on_aws':>22} {'skipped':>8}")
    for a in sorted(counts, key=lambda a: -sum(v for k, v in counts[a].items() if k != "failed, fails_on_aws")):
        c = counts[a]
        n = c["passed"] + c["failed"] + c["skipped"]
        total.update(c)
        print(f"{a:32} {n:>6} {c['passed']:>7} {c['failed']:>7} {c['failed, fails_on_aws']:>22} {c['skipped']:>8}")
    n = total["passed"] + total["failed"] + total["skipped"]
    print(f"{'total':32} {n:>6} {total['passed']:>7} {total['failed']:>7} {total['failed, fails_on_aws']:>22} "
          f"{total['skipped']:>8}")
    with open(os.path.join(os.path.dirname(os.path.abspath(xml)), "failures.tsv"), "w") as f:
        for r in sorted(rows, key=lambda r: (r[1], r[0])):
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
