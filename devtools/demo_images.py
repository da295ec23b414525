"""Draw the demo shop's illustrations (flat shirts, a phone, an envelope) into ``demo/images/`` with Pillow.

The PNGs are committed, so the demo needs neither this script nor the internet; run it again only to
change a picture: ``.venv/bin/python -m devtools.demo_images``. ``seed_demo`` loads them into Wagtail's
image library (``demo.seed``).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "demo" / "images"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
INK = (38, 38, 38)

# A long-sleeved shirt, centred on (0, 0), about 260 wide and 220 high at scale 1.
SHIRT = [
    (-35, -100),
    (-95, -86),
    (-128, 78),
    (-100, 86),
    (-76, -12),
    (-76, 112),
    (76, 112),
    (76, -12),
    (100, 86),
    (128, 78),
    (95, -86),
    (35, -100),
    (0, -72),
]
COLLAR_LEFT = [(-38, -102), (-2, -70), (-26, -52)]
COLLAR_RIGHT = [(38, -102), (2, -70), (26, -52)]


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in colour)  # type: ignore[return-value]


def _points(points: list[tuple[int, int]], cx: float, cy: float, scale: float) -> list[tuple[float, float]]:
    return [(cx + x * scale, cy + y * scale) for x, y in points]


def shirt(image: Image.Image, cx: float, cy: float, scale: float, colour: tuple[int, int, int], check=None) -> None:
    """A shirt at (cx, cy); ``check`` is a second colour drawn as a tartan check over the cloth."""
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon(_points(SHIRT, cx, cy, scale), fill=255)
    cloth = Image.new("RGB", image.size, colour)
    if check is not None:
        draw = ImageDraw.Draw(cloth)
        step = int(34 * scale)
        for x in range(0, image.size[0], step):
            draw.rectangle([x, 0, x + step // 3, image.size[1]], fill=check)
        for y in range(0, image.size[1], step):
            draw.rectangle([0, y, image.size[0], y + step // 3], fill=_shade(check, 0.8))
    image.paste(cloth, (0, 0), mask)
    draw = ImageDraw.Draw(image)
    outline = _shade(colour, 0.6)
    draw.polygon(_points(SHIRT, cx, cy, scale), outline=outline, width=max(2, int(3 * scale)))
    for collar in (COLLAR_LEFT, COLLAR_RIGHT):
        draw.polygon(_points(collar, cx, cy, scale), fill=_shade(colour, 1.12), outline=outline)
    draw.line(_points([(0, -70), (0, 112)], cx, cy, scale), fill=outline, width=max(1, int(2 * scale)))
    for y in (-40, -5, 30, 65):
        r = 4.5 * scale
        x0, y0 = cx + 9 * scale, cy + y * scale
        draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=(250, 250, 245), outline=outline)
    draw.rectangle(_points([(-58, -40), (-24, -6)], cx, cy, scale), outline=outline, width=max(1, int(2 * scale)))


def hanger(image: Image.Image, cx: float, top: float, scale: float) -> None:
    draw = ImageDraw.Draw(image)
    draw.arc([cx - 12 * scale, top, cx + 12 * scale, top + 24 * scale], 180, 90, fill=INK, width=int(4 * scale))
    draw.line([(cx, top + 24 * scale), (cx - 70 * scale, top + 62 * scale)], fill=INK, width=int(4 * scale))
    draw.line([(cx, top + 24 * scale), (cx + 70 * scale, top + 62 * scale)], fill=INK, width=int(4 * scale))


def badge(image: Image.Image, cx: float, cy: float, radius: float, text: str, colour=(232, 89, 12)) -> None:
    draw = ImageDraw.Draw(image)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    font = ImageFont.truetype(FONT, int(radius * 0.62))
    draw.text((cx, cy), text, font=font, fill="white", anchor="mm")


def hero_shirts() -> Image.Image:
    image = Image.new("RGB", (720, 540), (244, 236, 222))
    draw = ImageDraw.Draw(image)
    draw.line([(40, 96), (680, 96)], fill=INK, width=8)
    for cx, colour, check in (
        (170, (120, 160, 205), None),
        (360, (214, 196, 160), None),
        (550, (176, 48, 48), (60, 30, 30)),
    ):
        hanger(image, cx, 84, 1.0)
        shirt(image, cx, 272, 0.78, colour, check)
    draw.rectangle([0, 470, 720, 540], fill=(226, 214, 194))
    return image


def hero_phone() -> Image.Image:
    image = Image.new("RGB", (720, 540), (214, 236, 232))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([250, 40, 470, 500], radius=34, fill=INK)
    draw.rounded_rectangle([264, 70, 456, 470], radius=18, fill=(250, 250, 247))
    draw.rounded_rectangle([330, 52, 390, 60], radius=4, fill=(90, 90, 90))
    shirt(image, 360, 220, 0.62, (120, 160, 205))
    draw.rounded_rectangle([290, 400, 430, 444], radius=10, fill=(11, 110, 79))
    draw.text((360, 422), "Add to basket", font=ImageFont.truetype(FONT, 15), fill="white", anchor="mm")
    return image


def hero_newsletter() -> Image.Image:
    image = Image.new("RGB", (720, 540), (250, 228, 226))
    draw = ImageDraw.Draw(image)
    box = (150, 150, 570, 420)
    draw.rectangle(box, fill=(255, 255, 252), outline=INK, width=6)
    draw.line([(150, 150), (360, 310), (570, 150)], fill=INK, width=6)
    draw.line([(150, 420), (310, 275)], fill=INK, width=4)
    draw.line([(570, 420), (410, 275)], fill=INK, width=4)
    badge(image, 555, 150, 72, "-15%")
    return image


def hero_welcome_back() -> Image.Image:
    image = Image.new("RGB", (720, 540), (228, 234, 214))
    shirt(image, 360, 262, 1.3, (120, 160, 205))
    draw = ImageDraw.Draw(image)
    # A tape measure across the chest: the tailor remembers your size.
    draw.line([(130, 430), (610, 150)], fill=(245, 196, 50), width=30)
    for i in range(1, 24):
        t = i / 24
        x, y = 130 + (610 - 130) * t, 430 + (150 - 430) * t
        draw.line([(x, y), (x + 7, y + 12)], fill=INK, width=2)
    return image


def product(colour: tuple[int, int, int], background: tuple[int, int, int], check=None) -> Image.Image:
    image = Image.new("RGB", (600, 600), background)
    shirt(image, 300, 300, 1.75, colour, check)
    return image


IMAGES = {
    "hero-shirts.png": hero_shirts,
    "hero-phone.png": hero_phone,
    "hero-newsletter.png": hero_newsletter,
    "hero-welcome-back.png": hero_welcome_back,
    "oxford-shirt.png": lambda: product((120, 160, 205), (236, 242, 248)),
    "linen-shirt.png": lambda: product((214, 196, 160), (247, 242, 232)),
    "flannel-shirt.png": lambda: product((176, 48, 48), (246, 234, 230), check=(60, 30, 30)),
    "denim-shirt.png": lambda: product((62, 92, 138), (232, 236, 242)),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, draw in IMAGES.items():
        draw().quantize(colors=64).save(OUT / name, optimize=True)
        print(OUT / name)  # noqa: T201 - a developer's script


if __name__ == "__main__":
    main()
