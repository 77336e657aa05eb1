"""Test images made the way the charging app and the chargers' screens look, each with its truth.

Drawn with Pillow and Debian's Noto Sans CJK (fonts-noto-cjk, which scripts/install-test-servers.sh
installs): an app order page (light and dark), a phone photo of a charger's screen, and variants
as operators send them: JPEG at low quality and half size, a small rotation, noise, small fonts.
`degraded()` are worse on purpose (blur, tiny, heavy noise, strong rotation): what they yield may
be partial, never a wrong value.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
SC = 2  # the Simplified Chinese face of Noto Sans CJK's collection


@dataclass(frozen=True)
class Order:
    order_no: str = "20261124081644614873"
    pile_no: str = "32010600123456"
    operator: str = "星星充电"
    station: str = "南京江宁万达广场充电站"
    stop_code: int = 10  # 盛弘: 汽车电池管理主动停止


SECOND = Order("20261203174502000117", "44030500009981", "特来电", "深圳南山科技园站", 47)


@dataclass
class Shot:
    """One test image: its file name, bytes, and what a reader should find in it."""

    name: str
    data: bytes
    truth: dict = field(default_factory=dict)  # field key -> value; "stop_code" -> the code
    degraded: bool = False


def font_path() -> str | None:
    return next((p for p in FONTS if Path(p).exists()), None)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    path = font_path()
    if path is None:
        raise RuntimeError("no CJK font: apt-get install fonts-noto-cjk")
    return ImageFont.truetype(path, size, index=SC if "Noto" in path else 0)


def truth_of(order: Order) -> dict:
    return {
        "order_no": order.order_no,
        "pile_no": order.pile_no,
        "operator": order.operator,
        "stop_code": order.stop_code,
    }


def app_page(order: Order = Order(), dark: bool = False, scale: float = 1.0) -> Image.Image:
    """The app's 订单详情 page, as a 1080-wide phone screenshot (`scale` < 1: smaller fonts)."""
    width, height = 1080, 1900
    bg, card = ((18, 18, 18), (36, 36, 38)) if dark else ((242, 243, 245), (255, 255, 255))
    ink, grey = ((235, 235, 235), (150, 150, 155)) if dark else ((30, 30, 30), (128, 128, 133))
    accent = (0, 176, 116)
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)

    def px(n: float) -> int:
        return max(1, round(n * scale))

    draw.text((40, 40), "9:41", font=_font(34), fill=ink)
    draw.text((width - 190, 40), "5G  87%", font=_font(30), fill=ink)
    draw.rectangle((0, 110, width, 230), fill=card)
    draw.text((width // 2 - 90, 140), "订单详情", font=_font(48), fill=ink)
    draw.text((50, 145), "<", font=_font(48), fill=ink)
    draw.rounded_rectangle((30, 270, width - 30, 560), radius=24, fill=card)
    draw.text((70, 310), "充电已结束", font=_font(px(44)), fill=accent)
    draw.text((70, 400), "¥ 45.60", font=_font(px(72)), fill=ink)
    draw.text((70, 500), "实付金额（含服务费）", font=_font(px(30)), fill=grey)
    rows = [
        ("订单号", order.order_no),
        ("充电桩号", order.pile_no),
        ("运营商", order.operator),
        ("场站名称", order.station),
        ("充电电量", "35.20度"),
        ("充电时长", "45分26秒"),
        ("开始时间", "2026-11-24 08:16:44"),
        ("结束时间", "2026-11-24 09:02:10"),
        ("停止原因", f"{order.stop_code}（BMS主动停止）"),
        ("支付方式", "微信支付"),
    ]
    top = 600
    draw.rounded_rectangle((30, top, width - 30, top + 40 + 100 * len(rows)), radius=24, fill=card)
    label_font, value_font = _font(px(36)), _font(px(38))
    for n, (label, value) in enumerate(rows):
        y = top + 40 + 100 * n
        draw.text((70, y), label, font=label_font, fill=grey)
        right = width - 70 - draw.textlength(value, font=value_font)
        draw.text((right, y), value, font=value_font, fill=ink)
        if n:
            draw.line((70, y - 30, width - 70, y - 30), fill=bg, width=2)
    draw.rounded_rectangle((60, height - 180, width - 60, height - 80), radius=50, fill=accent)
    draw.text((width // 2 - 110, height - 160), "联系客服", font=_font(52), fill=(255, 255, 255))
    return image


def charger_screen(order: Order = Order(), angle: float = 2.0, seed: int = 7) -> Image.Image:
    """A phone photo of a charger's screen: a dark blue panel in a grey bezel, slightly turned,
    with the sensor's noise."""
    panel = Image.new("RGB", (1200, 720), (12, 36, 84))
    draw = ImageDraw.Draw(panel)
    white, cyan, amber = (240, 244, 250), (110, 210, 255), (255, 190, 60)
    draw.rectangle((0, 0, 1200, 90), fill=(8, 24, 60))
    draw.text((40, 18), f"运营商：{order.operator}", font=_font(44), fill=white)
    draw.text((900, 22), "2026-11-24 09:02", font=_font(32), fill=white)
    draw.text((430, 120), "充电结束", font=_font(70), fill=amber)
    lines = [
        f"桩编号：{order.pile_no}",
        f"订单号：{order.order_no}",
        f"停机原因：{order.stop_code}",
        "充电电量：35.20 kWh    充电金额：45.60 元",
    ]
    for n, line in enumerate(lines):
        draw.text((80, 250 + 100 * n), line, font=_font(46), fill=cyan if n == 2 else white)
    photo = Image.new("RGB", (1600, 1100), (70, 72, 76))
    photo.paste(panel, (200, 190))
    photo = photo.rotate(angle, resample=Image.BICUBIC, fillcolor=(60, 62, 66))
    return noisy(photo, 10, seed)


def noisy(image: Image.Image, sigma: float, seed: int = 1) -> Image.Image:
    """`image` with Gaussian sensor noise of `sigma` (fixed seed: the same image every run)."""
    rng = random.Random(seed)
    noise = Image.effect_noise(image.size, sigma)
    # effect_noise is centred on 128; shift it randomly per run of `seed` only through the blend.
    mixed = Image.blend(image, Image.merge("RGB", [noise] * 3), 0.18 + rng.random() * 0.02)
    return Image.blend(image, mixed, 0.6)


def encode(image: Image.Image, kind: str = "PNG", quality: int = 90) -> bytes:
    out = io.BytesIO()
    if kind == "JPEG":
        image.save(out, "JPEG", quality=quality)
    elif kind == "WEBP":
        image.save(out, "WEBP", quality=quality)
    else:
        image.save(out, "PNG", optimize=False, compress_level=3)
    return out.getvalue()


def half(image: Image.Image, factor: float = 0.5) -> Image.Image:
    size = (round(image.width * factor), round(image.height * factor))
    return image.resize(size, Image.LANCZOS)


def usable() -> list[Shot]:
    """Twelve images an operator might send, each of which should be read whole."""
    a = Order()
    b = SECOND
    c = Order("20261130220115873301", "11010800770012", "国家电网", "北京朝阳大悦城站", 9)
    light, dark = app_page(a), app_page(b, dark=True)
    shots = [
        Shot("app_light.png", encode(light), truth_of(a)),
        Shot("app_dark.png", encode(dark), truth_of(b)),
        Shot("app_light_q40_half.jpg", encode(half(light), "JPEG", 40), truth_of(a)),
        Shot("app_dark_q50_half.jpg", encode(half(dark), "JPEG", 50), truth_of(b)),
        Shot(
            "app_light_rot3.jpg",
            encode(light.rotate(3, Image.BICUBIC, expand=True, fillcolor=(242, 243, 245)), "JPEG"),
            truth_of(a),
        ),
        Shot("app_noise.jpg", encode(noisy(app_page(c), 12, 3), "JPEG", 70), truth_of(c)),
        Shot("app_small_font.png", encode(app_page(c, scale=0.72)), truth_of(c)),
        Shot("app_light.webp", encode(light, "WEBP", 80), truth_of(a)),
        Shot("charger_screen.jpg", encode(charger_screen(a), "JPEG", 75), truth_of(a)),
        Shot("charger_screen_b.jpg", encode(charger_screen(b, -3, 11), "JPEG", 60), truth_of(b)),
        Shot(
            "charger_screen_half.jpg",
            encode(half(charger_screen(c, 1.5, 5)), "JPEG", 60),
            truth_of(c),
        ),
        Shot("app_dark_small_font.png", encode(app_page(a, dark=True, scale=0.8)), truth_of(a)),
    ]
    return shots


def degraded() -> list[Shot]:
    """Six images worse than operators should send: partial readings allowed, wrong ones not."""
    a, b = Order(), SECOND
    light = app_page(a)
    shots = [
        Shot("blur.jpg", encode(light.filter(ImageFilter.GaussianBlur(3)), "JPEG", 50)),
        Shot("tiny_q15.jpg", encode(half(light, 0.3), "JPEG", 15)),
        Shot("heavy_noise.jpg", encode(noisy(app_page(b, dark=True), 60, 9), "JPEG", 40)),
        Shot(
            "rot8.jpg",
            encode(light.rotate(8, Image.BICUBIC, expand=True, fillcolor=(242, 243, 245)), "JPEG"),
        ),
        Shot("screen_q10_third.jpg", encode(half(charger_screen(b, 4, 2), 0.33), "JPEG", 10)),
        Shot("small_font_q30.jpg", encode(half(app_page(a, scale=0.6), 0.6), "JPEG", 30)),
    ]
    truths = [a, a, b, a, b, a]
    for shot, order in zip(shots, truths, strict=True):
        shot.truth, shot.degraded = truth_of(order), True
    return shots


def hostile() -> list[Shot]:
    """Images that must give a warning, never a crash or a stall."""
    light = encode(half(app_page(), 0.5), "JPEG", 60)
    return [
        Shot("truncated.jpg", light[: len(light) // 2]),
        Shot("not_an_image.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 64),
        Shot("bomb_30000.png", png_header_only(30_000, 30_000)),
        Shot("bomb_zlib.png", flat_png(9_000, 9_000)),
    ]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` × `height` and carries one tiny IDAT: a decoder that trusted
    the header would allocate width × height × 3 bytes (2.7 GB for 30,000²)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def flat_png(width: int, height: int) -> bytes:
    """A real, complete one-colour PNG of 81 megapixels that compresses to a few hundred KB: a
    decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def image_mail(
    images: list[Shot],
    text: str = "",
    subject: str = "充电异常，见截图",
    sender: str = "ops@xingxing.example.cn",
    message_id: str = "<shot1@xingxing.example.cn>",
    inline: bool = False,
) -> bytes:
    """A mail from a phone client: `text` (maybe none) and the pictures, attached or inline in
    an HTML part (cid:, no file name), as operators send them."""
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"] = sender, "support@gongdan.example.cn"
    mail["Subject"], mail["Message-ID"] = subject, message_id
    mail["Date"] = "Tue, 24 Nov 2026 09:10:00 +0800"
    mail.set_content(text or "\n")
    if inline:
        cids = [f"shot{n}@phone" for n in range(len(images))]
        html = "".join(f'<p><img src="cid:{cid}"></p>' for cid in cids)
        mail.add_alternative(f"<html><body>{text}{html}</body></html>", subtype="html")
        related = mail.get_payload()[1]
        for cid, shot in zip(cids, images, strict=True):
            kind = _subtype(shot.name)
            related.add_related(shot.data, "image", kind, cid=f"<{cid}>")
        return mail.as_bytes()
    for shot in images:
        mail.add_attachment(shot.data, "image", _subtype(shot.name), filename=shot.name)
    return mail.as_bytes()


def _subtype(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower()
    return {"jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}.get(suffix, "png")
