"""Read the ticket an operator sends as a picture (SPEC §14): a mail's images through a local OCR
engine, bounded, their boxes grouped into lines and read with the same label rules as text.

The engine (rapidocr-onnxruntime, the `ocr` extra; its models ship in its wheel, nothing is
downloaded) is imported and loaded once per process, and only when an image needs reading: most
mail never pays its ~0.5 s start or its memory. Every bound is checked before the pixels are
decoded: the file's bytes, then the size its header declares (Pillow opens lazily).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import math
import os
import re
import statistics
import time
import warnings as python_warnings
from dataclasses import dataclass, field
from functools import cache

from ingest.reading.completeness import check_pile_no, order_time_of
from ingest.reading.field_catalog import bare_label
from ingest.reading.fields import catalog, read_fields
from ingest.reading.limits import TooSlow, time_limit
from ingest.reading.phones import check_phone
from ingest.reading.stopcodes import bare_trigger, trigger
from ingest.reading.values import NUMBER_KEYS

ENGINE_MODULE = "rapidocr_onnxruntime"  # the lazy loader imports this name (tests change it)
MAX_IMAGES = 5  # read in one mail, the largest first
MAX_BYTES = 10 * 1024 * 1024  # a larger file is skipped
MAX_PIXELS = 20_000_000  # larger: a JPEG is decoded scaled down, any other image skipped
WORK_SIDE = 1280  # the longest side the engine reads; a larger image is scaled down first
MIN_SCORE = 0.6  # boxes the engine is less sure of are left out
# The fields a value from a picture may fill (an app page or a charger screen shows no more).
IMAGE_KEYS = ("operator", "station", "phone", "order_no", "pile_no")
_SPACE_RUN = re.compile(r"\s+")


class ImageTooSlow(TooSlow):
    """Reading one image took longer than its limit of processor time."""


class Unreadable(Exception):
    """Why an image was not read, in words for `warnings`."""


@dataclass
class ImagesRead:
    fields: dict[str, str] = field(default_factory=dict)  # key -> value, validated
    sources: dict[str, str] = field(default_factory=dict)  # key -> the image's file name
    text: str = ""  # every image's lines, for stop codes
    warnings: list[str] = field(default_factory=list)


def available() -> bool:
    """Whether the OCR engine is installed (the `ocr` extra), without importing it."""
    return _installed(ENGINE_MODULE)


@cache
def _installed(module: str) -> bool:
    """Looked up once a process: a search of the import path (0.3 ms) for every mail with a
    picture."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_engine: tuple | None = None  # (module name, pid, engine): one per process, forks load their own


def engine():
    """The OCR engine, loaded on first use in this process. Raises ImportError without the extra."""
    global _engine
    if _engine is None or _engine[:2] != (ENGINE_MODULE, os.getpid()):
        module = importlib.import_module(ENGINE_MODULE)
        # One thread: the poll already runs a reader process beside it on two cores, and
        # onnxruntime's spinning threads cost more than they give on a busy machine. Each box is
        # recognised alone and padded to at least 160 pixels, not 320 in batches of six padded to
        # the widest: a third less processor time, the same fields read (bench_ocr.py).
        ocr = module.RapidOCR(
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            rec_batch_num=1,
            rec_img_shape=[3, 48, 160],
        )
        _engine = (ENGINE_MODULE, os.getpid(), ocr)
    return _engine[2]


def read_images(images: list[tuple[str, bytes]], missing: set[str], seconds: float) -> ImagesRead:
    """Fields among `missing` read from `images` (name, bytes), the largest first, at most
    MAX_IMAGES, each in at most `seconds` of processor time (the desk's seconds_per_image; the
    email's own limit bounds the wall time); each value is validated and an
    invalid one is never used. Never raises but TooSlow from an outer limit."""
    out = ImagesRead()
    if not available():
        out.warnings.append("screenshots not read: the OCR engine (the ocr extra) is not installed")
        return out
    ordered = sorted(images, key=lambda item: -len(item[1]))
    if len(ordered) > MAX_IMAGES:
        out.warnings.append(f"only the {MAX_IMAGES} largest of {len(ordered)} images read")
    texts = []
    for name, data in ordered[:MAX_IMAGES]:
        if not missing - set(out.fields):
            break
        try:
            lines = image_lines(data, name, out.warnings, seconds)
        except Unreadable as exc:
            out.warnings.append(f"image {name} not read: {exc}")
            continue
        except ImageTooSlow:
            out.warnings.append(
                f"image {name} not read: reading took longer than {seconds:g} s of processor time"
            )
            continue
        except ImportError as exc:
            out.warnings.append(f"screenshots not read: the OCR engine cannot be loaded ({exc})")
            break
        text = "\n".join(lines)
        texts.append(text)
        for key, value in read_fields(text).fields.items():
            if key not in missing or key not in IMAGE_KEYS or key in out.fields:
                continue
            reason = invalid_reason(key, value)
            if reason:
                out.warnings.append(f"image {name}: {key} not used ({reason})")
                continue
            out.fields[key] = _SPACE_RUN.sub("", value) if key in NUMBER_KEYS else value
            out.sources[key] = name
    out.text = "\n".join(texts)
    if out.fields:
        out.warnings.append("read from images: " + ", ".join(sorted(out.fields)))
    return out


def invalid_reason(key: str, value: str) -> str | None:
    """Why a value read from a picture is not used: stricter than for typed text, since a digit
    misread is no typo the operator made; an order number must be the platform's 20 digits."""
    digits = _SPACE_RUN.sub("", value)
    if key == "order_no":
        if not digits.isdigit() or not digits.isascii():
            return "not digits"
        if len(digits) != 20 or order_time_of(digits) is None:
            return f"{len(digits)} digits, not a 20-digit platform order number"
        return None
    if key == "pile_no":
        return check_pile_no(digits)
    if key == "phone":
        return check_phone(value)
    return None if 0 < len(value) <= 60 else "not a short line"


def image_lines(data: bytes, name: str, warnings: list[str], seconds: float) -> list[str]:
    """The text of an image as lines, by layout, read in at most `seconds` of processor time.
    Raises Unreadable, ImageTooSlow, ImportError."""
    started = time.process_time()
    with time_limit(seconds, ImageTooSlow, cpu=True):
        pixels = decoded(data, name, warnings)
    spent = time.process_time() - started
    ocr = engine()  # loaded outside the image's time limit: once per process
    left = max(seconds - spent, 0.01)  # one budget for decoding and reading
    with time_limit(left, ImageTooSlow, cpu=True):
        try:
            result, _ = ocr(pixels, use_cls=False)
        except (ImageTooSlow, TooSlow):
            raise
        except Exception as exc:  # the engine's own failure loses this image only
            raise Unreadable(f"the OCR engine failed ({type(exc).__name__})") from None
    kept = [
        (box, str(text).strip()) for box, text, score in result or [] if float(score) >= MIN_SCORE
    ]
    return layout_lines(upright([(box, text) for box, text in kept if text]))


def image_format(data: bytes) -> str | None:
    """PNG, JPEG or WEBP by the file's first bytes (the formats read); None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decoded(data: bytes, name: str, warnings: list[str]):
    """The image as a BGR array of at most WORK_SIDE a side, checked before it is decoded."""
    if len(data) > MAX_BYTES:
        raise Unreadable(f"{len(data) // (1024 * 1024)} MB, over {MAX_BYTES // (1024 * 1024)} MB")
    kind = image_format(data)
    if kind is None:
        # Told by its first bytes: Pillow is not loaded for it, nor asked to try its decoders
        # of every other format (the first such try loads them all: 60 ms).
        raise Unreadable("not a PNG, JPEG or WebP image")
    from PIL import Image  # numpy (five times Pillow's import) only once there are pixels

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses twice this at open: a bomb
    try:
        with python_warnings.catch_warnings():  # sizes are checked here, not warned about
            python_warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])  # reads the header only
        width, height = image.size
        if width * height > MAX_PIXELS:
            if image.format != "JPEG":
                raise Unreadable(f"{width}×{height} pixels, over {MAX_PIXELS // 1_000_000} MP")
            image.draft("RGB", (width // 4, height // 4))  # decoded at a quarter or an eighth
            warnings.append(f"image {name}: {width}×{height} pixels, read scaled down")
        image.thumbnail((WORK_SIDE, WORK_SIDE))  # loads the pixels, then scales them down
        rgb = image.convert("RGB")
    except Unreadable:
        raise
    except Image.DecompressionBombError:
        raise Unreadable("a decompression bomb (too many pixels)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated, corrupt, not an image
        raise Unreadable(f"corrupt or not an image ({exc})") from None
    except MemoryError:
        raise Unreadable("too large to decode") from None
    import numpy

    return numpy.asarray(rgb)[:, :, ::-1].copy()


def upright(found: list[tuple[list, str]]) -> list[tuple[float, float, float, str]]:
    """Boxes (4 corner points, text) as (top, bottom, left, text) in the frame of the text's
    own slant (a photo taken a little askew): the median angle of the boxes' top edges."""
    angles = [
        math.atan2(box[1][1] - box[0][1], box[1][0] - box[0][0])
        for box, _ in found
        if abs(box[1][0] - box[0][0]) > abs(box[3][1] - box[0][1])
    ]
    angle = statistics.median(angles) if angles else 0.0
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for box, text in found:
        ys = [y * cos - x * sin for x, y in box]
        xs = [x * cos + y * sin for x, y in box]
        out.append((min(ys), max(ys), min(xs), text))
    return out


def layout_lines(boxes: list[tuple[float, float, float, str]]) -> list[str]:
    """Boxes (top, bottom, left, text) as lines: a box joins a line when it overlaps the line's
    height by half of the smaller; boxes in a line go left to right. A box holding only a label
    (`订单号`, `停止原因`) gets its colon, as a table cell does (html_text)."""
    lines: list[list] = []  # [top, bottom, [(left, text)]]
    for top, bottom, left, text in sorted(boxes, key=lambda b: (b[0] + b[1]) / 2):
        for line in lines:
            overlap = min(bottom, line[1]) - max(top, line[0])
            if overlap >= 0.5 * min(bottom - top, line[1] - line[0]):
                line[0], line[1] = min(top, line[0]), max(bottom, line[1])
                line[2].append((left, text))
                break
        else:
            lines.append([top, bottom, [(left, text)]])
    out = []
    for _, _, cells in lines:
        line: list[str] = []
        for _, text in sorted(cells):
            if line and _pair(line[-1]):  # `运营商：A` is whole: what stands right of it is not A
                out.append("  ".join(line))
                line = []
            if line:
                line[-1] = _with_colon(line[-1])
            line.append(text)
        out.append("  ".join(line))
    return out


def _pair(text: str) -> bool:
    """A box that holds a label and a value after it."""
    match = catalog().label_re.search(text) or trigger().search(text)
    return bool(match and text[match.end() :].strip())


def _with_colon(text: str) -> str:
    if text.endswith((":", "：")) or not (bare_label(text) or bare_trigger(text)):
        return text
    return text + "："
