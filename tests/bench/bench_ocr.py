"""Benchmark: screenshots read by the OCR engine (SPEC §14), accuracy and cost per image.

    python tests/bench/bench_ocr.py [--json] [--only NAME]

Reads the generated test images of tests/screenshots.py (twelve an operator might send, six
degraded on purpose, and the hostile ones) through ingest.reading.screenshots, as a mail's reading
does, and prints per image: seconds (wall and processor), the process's peak memory so far, the
fields read against the image's truth (order_no, pile_no, operator, and the stop code decoded from
the same lines), and any field read wrong. Then accuracy over the usable and the degraded images,
the engine's load time and the median seconds per image. A wrong 20-digit order number on any
image is the one result that must never appear.

Needs the `ocr` extra (rapidocr-onnxruntime, opencv-python-headless) and a CJK font
(fonts-noto-cjk). This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ingest.reading import screenshots  # noqa: E402
from ingest.reading.settings import ReadingSettings  # noqa: E402
from ingest.reading.stopcodes import stop_codes_in  # noqa: E402
from tests import screenshots as shots  # noqa: E402

KEYS = ("order_no", "pile_no", "operator", "stop_code")
LIMIT = ReadingSettings().seconds_per_image  # the desk's default bound, as a poll reads


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_one(shot: shots.Shot) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    found = screenshots.read_images([(shot.name, shot.data)], set(screenshots.IMAGE_KEYS), LIMIT)
    codes = stop_codes_in(found.text, "sinexcel")
    values = dict(found.fields)
    if codes:
        values["stop_code"] = codes[0]["code"]
    row = {
        "image": shot.name,
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "peak_mib": round(peak_mib()),
        "right": sorted(k for k in KEYS if k in shot.truth and values.get(k) == shot.truth[k]),
        "wrong": {k: values[k] for k in KEYS if k in values and values[k] != shot.truth.get(k)},
        "warnings": found.warnings,
        "of": len([k for k in KEYS if k in shot.truth]),
    }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--only", default="", help="only images whose name contains this")
    args = parser.parse_args(argv)
    if not screenshots.available():
        print("the ocr extra is not installed: pip install -e '.[ocr]'", file=sys.stderr)
        return 2
    before = peak_mib()
    started = time.perf_counter()
    screenshots.engine()
    load = time.perf_counter() - started
    groups = {"usable": shots.usable(), "degraded": shots.degraded(), "hostile": shots.hostile()}
    summary = {"engine_load_seconds": round(load, 3), "peak_mib_before_engine": round(before)}
    wrong_orders = 0
    for group, images in groups.items():
        rows = [read_one(s) for s in images if args.only in s.name]
        fields = sum(len([k for k in KEYS if k in s.truth]) for s in images if args.only in s.name)
        right = sum(len(r["right"]) for r in rows)
        wrong_orders += sum("order_no" in r["wrong"] for r in rows)
        for row in rows:
            row["group"] = group
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(
                    f"{group:9} {row['image']:28} {row['seconds']:6.2f} s  cpu "
                    f"{row['cpu_seconds']:5.2f} s  peak {row['peak_mib']:5} MiB  "
                    f"right {len(row['right'])}/{row['of']}"
                    + (f"  WRONG {row['wrong']}" if row["wrong"] else "")
                    + ("" if group != "hostile" else f"  {row['warnings']}")
                )
        if rows:
            summary[group] = {
                "fields_right": right,
                "fields": fields,
                "median_seconds": round(statistics.median(r["seconds"] for r in rows), 3),
                "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in rows), 3),
            }
    summary["wrong_order_numbers"] = wrong_orders
    summary["peak_mib"] = round(peak_mib())
    print(json.dumps(summary, ensure_ascii=False) if args.json else json.dumps(summary, indent=1))
    return 1 if wrong_orders else 0


if __name__ == "__main__":
    sys.exit(main())
