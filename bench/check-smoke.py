#!/usr/bin/python3
# check-smoke.py: run secure-chat-bench --smoke and check that every row,
# ratio and target is in its JSON (the figures themselves are not judged)
#
#   check-smoke.py BENCH JSON
#       without a display: the window rows must say they were skipped; the
#       throughput plot is drawn from the JSON (plot-throughput.py)
#   check-smoke.py --window BENCH WINDOW-PROGRAM OUTDIR
#       on a display (run-ui-test.sh): secure-chat-bench-window --smoke on
#       its own, then through secure-chat-bench --only window; every window
#       figure must be there, and the flood must have reached the view
#
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os
import subprocess
import sys

ROWS = [
    "crypto.bound.v2",
    "crypto.bound.v1",
    "crypto.bound.v2.two_threads",
    "crypto.bound.v1.two_threads",
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
    "scale.handshake.v2.sequential.empty",
]

WINDOW_ROWS = [
    "window.flood.stall_max",
    "window.flood.stall_p99",
    "window.flood.stall_median",
    "window.flood.delivered",
    "window.flood.view_lines",
    "window.flood.rss_before",
    "window.flood.rss_peak",
    "window.flood.rss_end",
]

WINDOW_TARGETS = ["window.stall", "window.rss"]

# the "window" object: every member, and the ones that may be null
WINDOW_FIELDS = [
    "path", "skipped", "error", "display", "renderer", "gtk", "libadwaita",
    "buffer_undo", "buffer_max_undo_levels", "a11y_bridge",
    "rate", "seconds", "message_size", "warmup_messages", "sent", "delivered",
    "send_seconds", "send_rate", "flood_seconds", "drain_seconds",
    "view_lines", "max_lines", "last_message", "last_line", "last_line_ok",
    "tick_ms", "ticks", "stall_max_ms", "stall_max_at_s", "stall_p99_ms",
    "stall_median_ms", "ticks_over_target", "idle_stall_max_ms",
    "rss_before_bytes", "rss_peak_bytes", "rss_peak_source", "rss_end_bytes",
    "rss_end_trimmed_bytes", "rss_growth_bytes", "heap_in_use_before_bytes",
    "heap_in_use_end_bytes", "heap_free_end_bytes", "line_bytes",
    "bound_bytes_per_line", "rss_bound_bytes", "rss_bound", "breakdown",
]
WINDOW_NULLABLE = {"skipped", "error"}
BREAKDOWN_FIELDS = [
    "buffer_insert", "buffer_delete", "frame", "insert_bytes_max",
    "longest_batch_messages", "longest_batch_ms", "longest_stall_messages",
    "longest_stall_inserts", "longest_stall_frames",
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


def run(argv, env=None):
    print("$ " + " ".join(argv), flush=True)
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, env=env)
    sys.stdout.write(done.stdout)
    return done


def load(json_path):
    with open(json_path, encoding="utf-8") as f:
        return json.load(f)


def check_rows(report, stdout, row_ids, problems):
    rows = {row["id"]: row for row in report.get("rows", [])}
    for row_id in row_ids:
        row = rows.get(row_id)
        if row is None:
            problems.append(f"row {row_id} is missing")
        elif row.get("error"):
            problems.append(f"row {row_id} failed: {row['error']}")
        elif row.get("skipped"):
            problems.append(f"row {row_id} was skipped: {row['skipped']}")
        elif not row.get("samples") or not isinstance(row.get("median"), (int, float)):
            problems.append(f"row {row_id} has no figures")
        elif row["label"] not in stdout:
            problems.append(f"row {row_id} is not in the printed table")


def check_targets(report, target_ids, problems, measured=True):
    targets = {t["id"]: t for t in report.get("targets", [])}
    for target_id in target_ids:
        target = targets.get(target_id)
        if target is None:
            problems.append(f"target {target_id} is missing")
        elif measured and (not isinstance(target.get("value"), (int, float))
                           or not isinstance(target.get("threshold"), (int, float))
                           or target.get("pass") is None):
            problems.append(f"target {target_id} has no value, threshold or verdict")


def check_window_object(report, problems):
    window = report.get("window")
    if not isinstance(window, dict):
        problems.append("no \"window\" object")
        return
    for field in WINDOW_FIELDS:
        if field not in window:
            problems.append(f"window.{field} is missing")
        elif window[field] is None and field not in WINDOW_NULLABLE:
            problems.append(f"window.{field} is null")
    breakdown = window.get("breakdown") or {}
    for field in BREAKDOWN_FIELDS:
        if field not in breakdown:
            problems.append(f"window.breakdown.{field} is missing")
    if window.get("error"):
        problems.append(f"the window run failed: {window['error']}")
    if window.get("sent", 0) <= 0 or window.get("delivered") != window.get("sent"):
        problems.append(f"delivered {window.get('delivered')} of {window.get('sent')} sent")
    if not window.get("last_line_ok"):
        problems.append(f"the view's last line {window.get('last_line')!r} is not the last "
                        f"message {window.get('last_message')!r}")
    # the smoke flood is longer than the log: the view must be full, not over
    if window.get("view_lines") != window.get("max_lines"):
        problems.append(f"the view holds {window.get('view_lines')} lines, "
                        f"max-lines is {window.get('max_lines')}")
    if window.get("ticks", 0) <= 0:
        problems.append("the timer never ran during the flood")


def report_problems(problems, what):
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        return 1
    print(f"ok: {what}")
    return 0


def main_bench(bench, json_path):
    # no display here, whatever the caller has: the window rows must say so
    # (check_window covers them on Xvfb)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = run([bench, "--smoke", "--json", json_path], env=env)
    if done.returncode != 0:
        print(f"FAIL: secure-chat-bench exited with {done.returncode}")
        return 1

    report = load(json_path)
    problems = []
    check_rows(report, done.stdout, ROWS, problems)
    check_targets(report, TARGETS, problems, measured=False)
    check_targets(report, WINDOW_TARGETS, problems, measured=False)
    if not report.get("ratios"):
        problems.append("no ratios")
    if "window: skipped, no display" not in done.stdout:
        problems.append("no \"window: skipped, no display\" line")
    rows = {row["id"]: row for row in report.get("rows", [])}
    for row_id in WINDOW_ROWS:
        row = rows.get(row_id)
        if row is None or "no display" not in (row.get("skipped") or ""):
            problems.append(f"row {row_id} is not marked skipped for want of a display")
    # the README's plot, drawn from this JSON
    png = os.path.splitext(json_path)[0] + "-throughput.png"
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot-throughput.py")
    done = run([sys.executable, plot, json_path, png])
    if done.returncode != 0:
        problems.append(f"plot-throughput.py exited with {done.returncode}")
    else:
        with open(png, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                problems.append(f"{png} is not a PNG")
    return report_problems(problems, f"{len(ROWS)} rows, {len(WINDOW_ROWS)} skipped window "
                           f"rows, {len(TARGETS) + len(WINDOW_TARGETS)} targets in {json_path} "
                           f"and the plot {png}")


def main_window(bench, window_program, outdir):
    problems = []
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print("FAIL: no display (run this under tests/ui/run-ui-test.sh)")
        return 1

    json_path = os.path.join(outdir, "bench-window-smoke.json")
    done = run([window_program, "--smoke", "--json", json_path])
    if done.returncode != 0:
        problems.append(f"{window_program} exited with {done.returncode}")
    elif not os.path.exists(json_path):
        problems.append(f"{window_program} wrote no {json_path}")
    else:
        report = load(json_path)
        check_rows(report, done.stdout, WINDOW_ROWS, problems)
        check_targets(report, WINDOW_TARGETS, problems)
        check_window_object(report, problems)

    # the same through secure-chat-bench, which runs it and merges its report
    merged_path = os.path.join(outdir, "bench-window-merged.json")
    done = run([bench, "--smoke", "--only", "window", "--json", merged_path])
    if done.returncode != 0:
        problems.append(f"secure-chat-bench --only window exited with {done.returncode}")
    else:
        report = load(merged_path)
        check_rows(report, done.stdout, WINDOW_ROWS, problems)
        check_targets(report, WINDOW_TARGETS, problems)
        check_window_object(report, problems)
    return report_problems(problems, f"{len(WINDOW_ROWS)} window rows, "
                           f"{len(WINDOW_TARGETS)} targets and {len(WINDOW_FIELDS)} fields, "
                           f"alone and merged")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--window":
        return main_window(*sys.argv[2:])
    if len(sys.argv) == 3:
        return main_bench(*sys.argv[1:])
    print(__doc__ or "usage: check-smoke.py BENCH JSON | --window BENCH WINDOW-PROGRAM OUTDIR")
    return 2


if __name__ == "__main__":
    sys.exit(main())
