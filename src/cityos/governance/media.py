"""Complaint photos: JPEG or PNG up to 5 MB, re-encoded without EXIF/GPS metadata.

A phone photo carries where it was taken (EXIF GPS) and often the device's serial number.
The upload is decoded with Pillow (which also proves it is an image of the declared type,
whatever its name says) and re-encoded from its pixels alone, so no metadata block —
EXIF, XMP, ICC comments, PNG text chunks — survives. The EXIF orientation is applied to the
pixels first so the photo still shows upright.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from cityos.governance.errors import BadRequest, TooLarge, UnsupportedMedia

MAX_BYTES = 5 * 1024 * 1024  # 5 MiB
MAX_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded
TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}


def too_large() -> TooLarge:
    """Return the error for a photo over the limit."""
    return TooLarge(
        f"The photo is larger than {MAX_BYTES // (1024 * 1024)} MB; send a smaller one.",
        f"사진이 {MAX_BYTES // (1024 * 1024)} MB보다 큽니다. 더 작은 사진을 보내세요.",
    )


def clean(data: bytes, content_type: str) -> tuple[bytes, str, str]:
    """Return (cleaned bytes, content type, SHA-256 hex) of an uploaded photo, or refuse it."""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in TYPES:
        raise UnsupportedMedia(
            f"Photos must be image/jpeg or image/png (got {kind[:40] or 'no type'!r}).",
            f"사진은 image/jpeg 또는 image/png여야 합니다(받은 형식: {kind[:40] or '없음'!r}).",
        )
    if len(data) > MAX_BYTES:
        raise too_large()
    if not data:
        raise BadRequest("The photo is empty.", "사진 파일이 비어 있습니다.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != TYPES[kind]:
                raise UnsupportedMedia(
                    f"The file is not a {TYPES[kind]} image although it says {kind}.",
                    f"파일이 {kind}라고 했지만 {TYPES[kind]} 이미지가 아닙니다.",
                )
            if image.width * image.height > MAX_PIXELS:
                raise too_large()
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # fmt: skip
        raise UnsupportedMedia(
            "The photo cannot be read as an image; send a JPEG or PNG file.",
            "사진을 이미지로 읽을 수 없습니다. JPEG 또는 PNG 파일을 보내세요.",
        ) from None
    pixels = Image.new(upright.mode, upright.size)
    pixels.paste(upright)  # a fresh image: no info dict, no EXIF, no text chunks
    out = io.BytesIO()
    if TYPES[kind] == "JPEG":
        if pixels.mode not in ("RGB", "L"):
            pixels = pixels.convert("RGB")
        pixels.save(out, format="JPEG", quality=90, optimize=True)
    else:
        pixels.save(out, format="PNG", optimize=True)
    cleaned = out.getvalue()
    return cleaned, kind, hashlib.sha256(cleaned).hexdigest()
