"""Random input to every complaint route: always an Open311 error list or success, never a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.governance.conftest import BASE, City, validate

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FIELDS = st.sampled_from(
    ["service_code", "lat", "long", "address_string", "description", "attribute[hazard]",
     "attribute[size]", "jurisdiction_id", "media_url", "webhook_url", "duplicate_action",
     "address_id", "email", "nonsense", "attribute[x]"]
)  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["road", "waste", "36.5", "127.28", "nan", "-1e400", "yes", "new", "join"]),
)
OK = {200, 201}


@SETTINGS
@given(form=st.dictionaries(FIELDS, VALUES, max_size=8), fmt=st.sampled_from(["json", "xml"]))
def test_random_posts_never_fail_badly(city: City, form: dict[str, str], fmt: str) -> None:
    r = city.client.post(f"{BASE}/requests.{fmt}", data={"api_key": city.api_key, **form})
    assert r.status_code in OK | {400, 404, 409}, r.text
    if r.status_code >= 400 and fmt == "json":
        validate("errors", r.json())


@SETTINGS
@given(
    path=st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="/?#%\\"
        ),
        max_size=20,
    ),
    params=st.dictionaries(
        st.sampled_from(
            [
                "service_request_id",
                "service_code",
                "start_date",
                "end_date",
                "status",
                "jurisdiction_id",
            ]
        ),  # fmt: skip
        st.text(max_size=30),
        max_size=4,
    ),
)
def test_random_reads_never_fail_badly(city: City, path: str, params: dict[str, str]) -> None:
    for url in (
        f"{BASE}/requests.json",
        f"{BASE}/requests/{path}.json",
        f"{BASE}/tokens/{path}.json",
        f"{BASE}/services/{path}.xml",
        f"{BASE}/{path}",
    ):
        r = city.client.get(url, params=params)
        assert r.status_code in OK | {400, 404}, (url, r.text)
