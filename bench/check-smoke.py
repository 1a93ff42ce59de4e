#!/usr/bin/python3
# check-smoke.py: run secure-chat-bench --smoke and check that every row,
# ratio and target is in its JSON (the figures themselves are not judged)
#
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import subprocess
import sys

ROWS = [
    "crypto.bound.v2",
    "crypto.bound.v1",
    "crypto.op.x25519_keygen",
    "crypto.op.x25519_derive",
    "crypto.op.ed25519_sign",
    "crypto.op.ed25519_verify",
    "crypto.op.rsa_oaep_encrypt",
    "crypto.op.rsa_oaep_decrypt",
    "crypto.op.rsa_pss_sign",
    "crypto.op.rsa_pss_verify",
    "handshake.v2.sequential",
    "handshake.v2.concurrent",
    "handshake.v1.sequential",
    "handshake.v1.concurrent",
    "handshake.tls.sequential",
    "handshake.tls.concurrent",
] + [
    f"throughput.{kind}.{size}"
    for size in (100, 1024, 65536)
    for kind in ("v2", "v1", "tls", "aesgcm")
] + [
    "fanout.one-to-one",
    "fanout.100",
    "fanout.1000",
    "scale.rss_per_session",
    "scale.handshake.v2.sequential",
]

TARGETS = [
    "handshake.v2.sequential",
    "handshake.v2.concurrent",
    "handshake.v1.sequential",
    "handshake.v1.concurrent",
    "throughput.64k.tls",
    "throughput.64k.aesgcm",
    "throughput.100.tls",
    "fanout.1000",
    "scale.rss",
]


def main():
    bench, json_path = sys.argv[1], sys.argv[2]
    run = subprocess.run([bench, "--smoke", "--json", json_path], stdout=subprocess.PIPE,
                         text=True)
    sys.stdout.write(run.stdout)
    if run.returncode != 0:
        print(f"FAIL: secure-chat-bench exited with {run.returncode}")
        return 1

    with open(json_path, encoding="utf-8") as f:
        report = json.load(f)
    problems = []
    rows = {row["id"]: row for row in report.get("rows", [])}
    for row_id in ROWS:
        row = rows.get(row_id)
        if row is None:
            problems.append(f"row {row_id} is missing")
        elif row.get("error"):
            problems.append(f"row {row_id} failed: {row['error']}")
        elif not row.get("samples") or not isinstance(row.get("median"), (int, float)):
            problems.append(f"row {row_id} has no figures")
        elif row["label"] not in run.stdout:
            problems.append(f"row {row_id} is not in the printed table")
    targets = {t["id"] for t in report.get("targets", [])}
    for target_id in TARGETS:
        if target_id not in targets:
            problems.append(f"target {target_id} is missing")
    if not report.get("ratios"):
        problems.append("no ratios")

    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        return 1
    print(f"ok: {len(ROWS)} rows and {len(TARGETS)} targets in {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
