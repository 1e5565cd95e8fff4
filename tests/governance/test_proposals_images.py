"""Proposal images: JPEG/PNG only, ≤ 5 MB, re-encoded without EXIF/GPS/text; every refusal clear."""

# ruff: noqa: F811 - the fixtures are imported from tests.governance._civic

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image, PngImagePlugin

from cityos.governance.civic.errors import BadInput, TooLarge, UnsupportedMedia
from cityos.governance.proposals.images import MAX_BYTES, clean_image
from tests.governance._civic import (  # noqa: F401 - fixtures
    BORAM_POINT,
    People,
    Person,
    api,
    assert_bilingual_error,
    civic_settings,
    clock,
    engine,
    people,
)

CAMERA = "SecretCam 3000"


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG whose EXIF names the camera, rotates it (orientation 6) and holds a GPS fix."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° clockwise to display
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (36.0, 28.0, 40.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (127.0, 17.0, 23.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it is there
    return data


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 36.4778 127.2898 home of 홍길동")
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 128, 0, 200)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_a_jpeg_loses_exif_and_gps_and_is_turned_upright() -> None:
    clean = clean_image(jpeg_with_gps(), "image/jpeg")
    assert clean.content_type == "image/jpeg"
    assert (clean.width, clean.height) == (48, 64)  # orientation applied to the pixels
    reread = Image.open(io.BytesIO(clean.data))
    assert reread.format == "JPEG"
    assert dict(reread.getexif()) == {}
    assert b"Exif" not in clean.data
    assert CAMERA.encode() not in clean.data
    assert reread.getpixel((10, 10))[0] > 150  # still the red picture


def test_a_png_loses_its_text_chunks() -> None:
    clean = clean_image(png_with_text(), "image/png")
    assert clean.content_type == "image/png"
    assert b"GPS" not in clean.data
    assert "홍길동".encode() not in clean.data
    reread = Image.open(io.BytesIO(clean.data))
    assert reread.info.get("Comment") is None
    assert reread.getpixel((5, 5)) == (0, 128, 0, 200)


@pytest.mark.parametrize(
    ("data", "declared", "error"),
    [
        (b"GIF89a" + bytes(50), "image/gif", UnsupportedMedia),
        (b"hello", "text/plain", UnsupportedMedia),
        (b"", "image/png", BadInput),
        (b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg", BadInput),
        (bytes(MAX_BYTES + 1), "image/jpeg", TooLarge),
    ],
)
def test_bad_images_are_refused(data: bytes, declared: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        clean_image(data, declared)


def test_the_declared_type_must_match_and_gif_content_is_refused() -> None:
    with pytest.raises(UnsupportedMedia):
        clean_image(jpeg_with_gps(), "image/png")
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    with pytest.raises(UnsupportedMedia):
        clean_image(gif.getvalue(), "image/jpeg")


def test_a_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(out, format="PNG")  # 50 MP, a few KB
    with pytest.raises(BadInput, match="pixels"):
        clean_image(out.getvalue(), "image/png")


def upload(api: TestClient, proposal_id: str, who: Person, data: bytes, kind: str) -> Any:
    return api.post(
        f"/api/v1/uploads/proposals/{proposal_id}/images",
        content=data,
        headers=who.headers | {"Content-Type": kind},
    )


def test_images_through_the_api(api: TestClient, people: People) -> None:
    author = people.citizen()
    r = api.post(
        "/api/v1/proposals",
        json={
            "title": "세종중앙공원 그늘막 설치",
            "description": "여름에 그늘이 없어 아이들이 놀기 힘듭니다.",
            "location": {"type": "Point", "coordinates": BORAM_POINT},
        },
        headers=author.headers,
    )
    proposal = r.json()
    stored = upload(api, proposal["id"], author, jpeg_with_gps(), "image/jpeg")
    assert stored.status_code == 201, stored.text
    assert (stored.json()["width"], stored.json()["height"]) == (48, 64)
    served = api.get(stored.json()["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert CAMERA.encode() not in served.content
    assert dict(Image.open(io.BytesIO(served.content)).getexif()) == {}
    assert api.get(f"/api/v1/proposals/{proposal['id']}").json()["images"] == [stored.json()["url"]]
    # Refusals, each clear and bilingual; none stores anything.
    too_big = upload(api, proposal["id"], author, bytes(MAX_BYTES + 1), "image/jpeg")
    assert_bilingual_error(too_big, 413)
    assert_bilingual_error(upload(api, proposal["id"], author, b"GIF89a....", "image/gif"), 415)
    assert_bilingual_error(upload(api, proposal["id"], author, b"garbage", "image/png"), 400)
    assert_bilingual_error(upload(api, proposal["id"], author, png_with_text(), "image/jpeg"), 415)
    other = people.citizen()
    assert_bilingual_error(upload(api, proposal["id"], other, png_with_text(), "image/png"), 403)
    assert_bilingual_error(
        api.post(
            f"/api/v1/uploads/proposals/{proposal['id']}/images",
            content=png_with_text(),
            headers={"Content-Type": "image/png"},
        ),
        401,
    )
    assert_bilingual_error(upload(api, "no-such-id", author, png_with_text(), "image/png"), 404)
    assert len(api.get(f"/api/v1/proposals/{proposal['id']}").json()["images"]) == 1
    for _ in range(4):
        assert upload(api, proposal["id"], author, png_with_text(), "image/png").status_code == 201
    assert_bilingual_error(upload(api, proposal["id"], author, png_with_text(), "image/png"), 409)
    assert len(api.get(f"/api/v1/proposals/{proposal['id']}").json()["images"]) == 5
    assert_bilingual_error(api.get(f"/api/v1/proposals/{proposal['id']}/images/nope"), 404)
