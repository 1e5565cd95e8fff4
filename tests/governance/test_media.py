"""Complaint photos: JPEG/PNG only, ≤ 5 MB, stored without EXIF or GPS, shown as media_url."""

from __future__ import annotations

import io
import os

import pytest
import sqlalchemy as sa
from PIL import Image

from cityos.governance.media import MAX_BYTES
from cityos.governance.models import media
from tests.governance.conftest import BASE, City, post, validate

GPS_IFD = 0x8825


def photo_with_gps(fmt: str = "JPEG") -> bytes:
    """Return a small photo whose EXIF says where it was taken (as a phone's would)."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "Camera 1.0"  # Software
    exif[GPS_IFD] = {1: "N", 2: (36.0, 30.0, 14.4), 3: "E", 4: (127.0, 15.0, 54.0)}
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif)
    return out.getvalue()


def upload(city: City, request_id: str, data: bytes, content_type: str, **params: str) -> object:
    return city.client.post(
        f"{BASE}/media/{request_id}",
        content=data,
        headers={"content-type": content_type},
        params={"api_key": city.api_key, **params},
    )


@pytest.fixture
def request_id(city: City) -> str:
    r = post(city, service_code="waste", address_string="새롬동 공원 입구", duplicate_action="new")
    assert r.status_code == 201, r.text
    return str(r.json()[0]["service_request_id"])


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_a_photo_is_stored_without_its_location(
    city: City, request_id: str, fmt: str, content_type: str
) -> None:
    original = photo_with_gps(fmt)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the input has GPS
    r = upload(city, request_id, original, content_type)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    url = r.json()[0]["media_url"]  # type: ignore[attr-defined]
    with city.engine.connect() as connection:
        stored = connection.execute(
            sa.select(media.c.data).where(media.c.request_id == int(request_id))
        ).scalar_one()
    image = Image.open(io.BytesIO(stored))
    assert image.format == fmt
    assert not image.getexif()  # no EXIF at all: no GPS, no maker
    assert not image.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in stored
    assert image.size == (64, 48)
    shown = city.client.get(f"{BASE}/requests/{request_id}.json").json()
    validate("requests", shown)
    assert shown[0]["media_url"] == url
    served = city.client.get(url.replace("http://testserver", ""))
    assert served.status_code == 200
    assert served.headers["content-type"] == content_type
    assert served.content == stored


def test_bad_photos_are_refused_and_nothing_is_kept(city: City, request_id: str) -> None:
    cases = [
        (b"GIF89a" + os.urandom(100), "image/gif", 415, "image/jpeg or image/png"),
        (photo_with_gps("PNG"), "image/jpeg", 415, "not a JPEG"),
        (b"\xff\xd8\xff" + os.urandom(2000), "image/jpeg", 415, "cannot be read"),
        (b"", "image/jpeg", 400, "empty"),
        (b"\xff" * (MAX_BYTES + 1), "image/jpeg", 413, "5 MB"),
    ]
    for data, content_type, status, says in cases:
        r = upload(city, request_id, data, content_type)
        assert r.status_code == status, (says, r.text)  # type: ignore[attr-defined]
        assert says in r.json()[0]["description"]  # type: ignore[attr-defined]
    with city.engine.connect() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).where(media.c.request_id == int(request_id))
        ).scalar_one()
    assert count == 0
    assert city.client.get(f"{BASE}/requests/{request_id}.json").json()[0]["media_url"] is None


def test_only_the_reporter_adds_a_photo(city: City, request_id: str) -> None:
    citizen = city.make_user()
    r = city.client.post(
        f"{BASE}/media/{request_id}",
        content=photo_with_gps(),
        headers={"content-type": "image/jpeg", **citizen},
    )
    assert r.status_code == 403
    anonymous = city.client.post(
        f"{BASE}/media/{request_id}",
        content=photo_with_gps(),
        headers={"content-type": "image/jpeg"},
    )
    assert anonymous.status_code == 403
    assert upload(city, "999999", photo_with_gps(), "image/jpeg").status_code == 404  # type: ignore[attr-defined]
    assert city.client.get(f"{BASE}/media/nope").status_code == 404
