#!/usr/bin/python3
# plot-throughput.py: throughput against message size, from the JSON that
# secure-chat-bench --json writes, drawn by gnuplot into a PNG.
#
#   bench/plot-throughput.py bench.json throughput.png
#
# One line per stack (Secure Chat v2, v1, TLS 1.3, raw AES-256-GCM): the
# median MB/s of each message size, with the min-max over rounds as error
# bars, on log-log axes.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import json
import shutil
import subprocess
import sys

SERIES = [
    ("v2", "Secure Chat v2 (AES-256-GCM records)"),
    ("v1", "Secure Chat v1 (legacy, AES-CBC + HMAC in JSON)"),
    ("tls", "TLS 1.3 (OpenSSL, AES-256-GCM)"),
    ("aesgcm", "raw AES-256-GCM seal, one core (the limit)"),
]


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} BENCH.json OUT.png", file=sys.stderr)
        return 2
    src, out = sys.argv[1], sys.argv[2]
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print(f"{sys.argv[0]}: gnuplot is missing (Debian package gnuplot-nox)", file=sys.stderr)
        return 1
    try:
        with open(src, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{sys.argv[0]}: cannot read {src}: {e}", file=sys.stderr)
        return 1

    points = {key: [] for key, _ in SERIES}
    for row in report.get("rows", []):
        parts = row.get("id", "").split(".")
        if len(parts) != 3 or parts[0] != "throughput" or parts[1] not in points:
            continue
        mb = row.get("mb_per_s")
        if not mb or row.get("error") or row.get("skipped"):
            continue
        points[parts[1]].append((int(parts[2]), mb["median"], mb["min"], mb["max"]))
    if not any(points.values()):
        print(f"{sys.argv[0]}: {src} has no throughput rows", file=sys.stderr)
        return 1

    meta = report.get("meta", {})
    title = "Throughput on loopback, one connection"
    if meta.get("cpus"):
        title += f" ({meta['cpus']} CPUs)"
    script = [
        "set terminal pngcairo size 900,560 font 'sans,10'" if has_cairo(gnuplot)
        else "set terminal png size 900,560",
        f"set output {gp_string(out)}",
        f"set title {gp_string(title)}",
        "set logscale xy",
        "set xlabel 'message size (bytes)'",
        "set ylabel 'MB/s (median, bars: min-max over rounds)'",
        "set xtics ('100 B' 100, '1 KiB' 1024, '64 KiB' 65536)",
        "set xrange [70:100000]",
        "set key top left",
        "set grid",
    ]
    plots = []
    data = []
    for key, label in SERIES:
        if not points[key]:
            continue
        plots.append(f"'-' using 1:2:3:4 with yerrorlines lw 2 title {gp_string(label)}")
        rows = sorted(points[key])
        data.append("\n".join(f"{size} {med} {lo} {hi}" for size, med, lo, hi in rows) + "\ne")
    script.append("plot " + ", ".join(plots))
    script.extend(data)
    proc = subprocess.run([gnuplot], input="\n".join(script) + "\n", text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        print(f"{sys.argv[0]}: gnuplot failed:\n{proc.stderr}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def has_cairo(gnuplot):
    proc = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True,
                          check=False)
    return "pngcairo" in proc.stdout + proc.stderr


def gp_string(text):
    return "'" + text.replace("'", "''") + "'"


if __name__ == "__main__":
    sys.exit(main())
