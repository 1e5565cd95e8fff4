"""Proposal images: JPEG or PNG, at most 5 MB, re-encoded without EXIF, GPS or text chunks.

Re-encoding (not editing the metadata out) is the safe way: only pixels survive. A JPEG's
EXIF orientation is applied to the pixels first, so the picture stays upright without it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from cityos.governance.civic.errors import BadInput, TooLarge, UnsupportedMedia

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb guard: 40 MP is more than any phone camera
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass(frozen=True)
class CleanImage:
    """An image ready to store: the re-encoded bytes and what they are."""

    data: bytes
    content_type: str
    width: int
    height: int


def clean_image(data: bytes, declared_type: str) -> CleanImage:
    """Check and re-encode an uploaded image, or raise a 4xx error saying what is wrong."""
    if len(data) > MAX_BYTES:
        raise TooLarge(
            f"The image is {len(data)} bytes; the limit is {MAX_BYTES} bytes (5 MB).",
            f"이미지가 {len(data)}바이트입니다. 최대 {MAX_BYTES}바이트(5MB)까지 올릴 수 있습니다.",
        )
    if declared_type not in FORMATS.values():
        raise UnsupportedMedia(
            "Send a JPEG or PNG image with Content-Type image/jpeg or image/png.",
            "JPEG 또는 PNG 이미지를 Content-Type image/jpeg 또는 image/png로 보내세요.",
        )
    if not data:
        raise BadInput("The image is empty.", "이미지가 비어 있습니다.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            found = image.format
            if found not in FORMATS:
                raise UnsupportedMedia(
                    f"This is a {found} file; only JPEG and PNG images are accepted.",
                    f"{found} 파일입니다. JPEG와 PNG 이미지만 올릴 수 있습니다.",
                )
            if image.width * image.height > MAX_PIXELS:
                raise BadInput(
                    f"The image has more than {MAX_PIXELS} pixels; make it smaller.",
                    f"이미지 화소 수가 {MAX_PIXELS}를 넘습니다. 크기를 줄이세요.",
                )
            if FORMATS[found] != declared_type:
                raise UnsupportedMedia(
                    f"Content-Type says {declared_type} but the file is {FORMATS[found]}.",
                    f"Content-Type은 {declared_type}인데 파일은 {FORMATS[found]}입니다.",
                )
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise BadInput(
            "The file is not a readable JPEG or PNG image.",
            "읽을 수 있는 JPEG 또는 PNG 이미지가 아닙니다.",
        ) from exc
    # Only the pixels are carried over (frombytes): no EXIF, GPS, XMP, ICC or text chunks.
    if found == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    fresh = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    if upright.mode == "P":
        fresh.putpalette(upright.getpalette() or [])
        if "transparency" in upright.info:
            fresh.info["transparency"] = upright.info["transparency"]
    out = io.BytesIO()
    if found == "JPEG":
        fresh.save(out, format="JPEG", quality=88, optimize=True)
    else:
        fresh.save(out, format="PNG", optimize=True)
    return CleanImage(out.getvalue(), FORMATS[found], fresh.width, fresh.height)
