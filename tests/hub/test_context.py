"""Tests for cityos.hub.context: offline resolution, expansion and compaction, caching."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.config import Settings, SettingsError
from cityos.hub.context import (
    CITYOS_CONTEXT_URL,
    CORE_CONTEXT_URL,
    ContextResolver,
)
from cityos.hub.errors import BadRequestData, LdContextNotAvailable

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
SUITE = "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
SUITE_URL = SUITE + "ngsi-ld-test-suite.jsonld"
COMPOUND_URL = SUITE + "ngsi-ld-test-suite-compound.jsonld"
ENV_URL = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
ENV = "https://smartdatamodels.org/dataModel.Environment/"


@pytest.fixture(scope="module")
def resolver() -> Iterator[ContextResolver]:
    with ContextResolver(Settings(mode="test"), allow_network=False) as shared:
        yield shared


def offline(**kwargs: object) -> ContextResolver:
    """Return a resolver that never touches the network."""
    return ContextResolver(Settings(mode="test"), allow_network=False, **kwargs)  # type: ignore[arg-type]


# --- expansion ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [SUITE_URL, COMPOUND_URL])
def test_test_suite_terms_expand(resolver: ContextResolver, url: str) -> None:
    ctx = resolver.resolve(url)
    assert ctx.expand_type("Vehicle") == "https://ngsi-ld-test-suite/context#Vehicle"
    assert ctx.expand("brandName") == "https://ngsi-ld-test-suite/context#brandName"
    assert ctx.expand("speed") == "https://ngsi-ld-test-suite/context#speed"


def test_smart_data_model_terms_expand(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(ENV_URL)
    assert ctx.expand_type("AirQualityObserved") == ENV + "AirQualityObserved"
    for name in ("pm25", "no2", "relativeHumidity", "airQualityIndex", "reliability"):
        assert ctx.expand(name) == ENV + name
    assert ctx.expand("address") == "https://smartdatamodels.org/address"
    assert ctx.expand("dateObserved") == "https://smartdatamodels.org/dateObserved"


@pytest.mark.parametrize(
    ("term", "iri"),
    [
        ("location", NGSI_LD + "location"),
        ("observedAt", NGSI_LD + "observedAt"),
        ("Property", NGSI_LD + "Property"),
        ("VocabProperty", NGSI_LD + "VocabProperty"),
        ("containedBy", NGSI_LD + "isContainedBy"),
        ("Point", "https://purl.org/geojson/vocab#Point"),
        ("description", "http://purl.org/dc/terms/description"),
        ("id", "@id"),
        ("type", "@type"),
    ],
)
def test_core_terms_expand_without_user_context(
    resolver: ContextResolver, term: str, iri: str
) -> None:
    assert resolver.resolve(None).expand(term) == iri


def test_every_core_url_means_the_core_context(resolver: ContextResolver) -> None:
    for minor in range(3, 10):
        url = f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{minor}.jsonld"
        assert resolver.resolve(url).expand("location") == NGSI_LD + "location"
    assert resolver.resolve(CORE_CONTEXT_URL).expand("unknownThing") == DEFAULT + "unknownThing"


def test_unknown_terms_use_the_default_vocab(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(ENV_URL)
    assert ctx.expand("myOwnAttribute") == DEFAULT + "myOwnAttribute"
    assert ctx.vocab == DEFAULT


def test_iris_urns_and_compact_iris(resolver: ContextResolver) -> None:
    ctx = resolver.resolve({"ex": "https://example.org/ns/"})
    assert ctx.expand("ex:speed") == "https://example.org/ns/speed"
    assert ctx.expand("ngsi-ld:location") == NGSI_LD + "location"
    assert ctx.expand("https://other.org/x") == "https://other.org/x"
    assert ctx.expand("urn:ngsi-ld:Vehicle:A1") == "urn:ngsi-ld:Vehicle:A1"
    assert ctx.expand("unknownprefix:thing") == "unknownprefix:thing"  # a scheme: an IRI
    assert ctx.expand("@notakeyword") == "@notakeyword"


def test_expanded_term_definitions(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        {
            "ex": "https://example.org/",
            "category": {"@id": "ex:category", "@type": "@vocab"},
            "readings": {"@id": "ex:readings", "@container": "@list"},
            "config": {"@id": "ex:config", "@type": "@json"},
            "residential": "ex:residential",
            "ex2": {"@id": "https://example.org/two/", "@prefix": True},
        }
    )
    assert ctx.expand("category") == "https://example.org/category"
    category = ctx.term_definition("category")
    assert category is not None
    assert category.type_mapping == "@vocab"
    readings = ctx.term_definition("readings")
    assert readings is not None
    assert readings.container == frozenset({"@list"})
    assert ctx.term_is_json("config")
    assert ctx.term_is_json("json")  # the core context's own @json term
    assert not ctx.term_is_json("category")
    assert ctx.expand("ex2:a") == "https://example.org/two/a"


def test_user_terms_see_core_terms_only_after_the_core_url(resolver: ContextResolver) -> None:
    seen_at = {"seenAt": {"@id": "https://example.org/seenAt", "@type": "DateTime"}}
    with pytest.raises(BadRequestData, match="type mapping"):
        resolver.resolve(seen_at)  # the core context comes last: "DateTime" means nothing yet
    ctx = resolver.resolve([CORE_CONTEXT_URL, seen_at])
    seen = ctx.term_definition("seenAt")
    assert seen is not None
    assert seen.type_mapping == NGSI_LD + "DateTime"


def test_vocab_property_values(resolver: ContextResolver) -> None:
    ctx = resolver.resolve({"residential": "https://example.org/residential"})
    assert ctx.expand_vocab_value("residential") == "https://example.org/residential"
    assert ctx.expand_vocab_value(["residential", "x"]) == [
        "https://example.org/residential",
        DEFAULT + "x",
    ]
    assert ctx.compact_vocab_value(["https://example.org/residential", DEFAULT + "x"]) == [
        "residential",
        "x",
    ]
    assert ctx.expand_vocab_value(3) == 3


def test_array_and_nested_contexts_apply_in_order(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        [SUITE_URL, {"speed": "https://example.org/speed"}, ENV_URL, {"extra": "urn:x:extra"}]
    )
    assert ctx.expand("speed") == "https://example.org/speed"  # the later definition wins
    assert ctx.expand("fuelLevel") == "https://ngsi-ld-test-suite/context#fuelLevel"
    assert ctx.expand("name") == "https://smartdatamodels.org/name"  # ENV after the suite
    assert ctx.expand("extra") == "urn:x:extra"
    assert ctx.expand("location") == NGSI_LD + "location"


def test_terms_may_refer_to_later_terms_of_the_same_context(resolver: ContextResolver) -> None:
    ctx = resolver.resolve({"a": "ex:a", "ex": "https://example.org/", "b": {"@id": "a"}})
    assert ctx.expand("a") == "https://example.org/a"
    assert ctx.expand("b") == "https://example.org/a"


def test_core_terms_are_protected(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        {"location": "https://example.org/location", "Property": "https://example.org/P"}
    )
    assert ctx.expand("location") == NGSI_LD + "location"  # the core context is applied last
    assert ctx.expand("Property") == NGSI_LD + "Property"
    assert ctx.compact("https://example.org/location") == "https://example.org/location"
    with pytest.raises(BadRequestData, match="protected"):
        resolver.resolve([CORE_CONTEXT_URL, {"location": "https://example.org/location"}])
    # an identical redefinition is allowed, as JSON-LD 1.1 says
    same = resolver.resolve([CORE_CONTEXT_URL, {"location": "ngsi-ld:location"}])
    assert same.expand("location") == NGSI_LD + "location"


def test_user_vocab_is_overridden_by_the_core_vocab(resolver: ContextResolver) -> None:
    ctx = resolver.resolve({"@vocab": "https://example.org/", "Car": {}})
    assert ctx.expand("Car") == "https://example.org/Car"  # defined while @vocab was active
    assert ctx.expand("Bus") == DEFAULT + "Bus"


def test_null_context_resets_earlier_user_terms(resolver: ContextResolver) -> None:
    ctx = resolver.resolve([SUITE_URL, None, {"x": "urn:x"}])
    assert ctx.expand("Vehicle") == DEFAULT + "Vehicle"
    assert ctx.expand("x") == "urn:x"
    nulled = resolver.resolve([{"speed": "urn:speed"}, {"speed": None}])
    assert nulled.expand("speed") == DEFAULT + "speed"


@pytest.mark.parametrize(
    "context",
    [
        42,
        {"foo": 5},
        {"foo": {"@id": 5}},
        {"foo": {"@id": "urn:foo", "@container": "@bogus"}},
        {"foo": {"@id": "urn:foo", "@type": 3}},
        {"foo": {"@id": "urn:foo", "@unknown": 1}},
        {"foo": {"@type": "@id"}},  # no @id and no @vocab yet
        {"@version": 1.0},
        {"@vocab": 3},
        {"@import": "https://example.org/c.jsonld"},
        {"a": "b:x", "b": "a:y"},  # cyclic IRI mapping
        {"@context": {"a": "urn:a"}},  # a whole document given as a context
        [{"a": "urn:a"}, 7],
    ],
)
def test_malformed_inline_context_is_bad_request(
    resolver: ContextResolver, context: object
) -> None:
    with pytest.raises(BadRequestData, match="invalid @context"):
        resolver.resolve(context)  # type: ignore[arg-type]


def test_unknown_url_offline_is_not_available(resolver: ContextResolver) -> None:
    with pytest.raises(LdContextNotAvailable, match="https://nowhere.example/c.jsonld"):
        resolver.resolve("https://nowhere.example/c.jsonld")


def test_cityos_context_ships(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(CITYOS_CONTEXT_URL)
    assert (
        ctx.expand_type("EmergencyDepartment") == "https://w3id.org/cityos/ns#EmergencyDepartment"
    )
    assert ctx.expand("name") == "https://smartdatamodels.org/name"
    assert ctx.compact("https://w3id.org/cityos/ns#unlisted") == "cityos:unlisted"


# --- compaction -----------------------------------------------------------------------------


def test_compact_prefers_user_term_then_core_then_prefix(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        {"here": NGSI_LD + "location", "ex": "https://example.org/", "car": "urn:car"}
    )
    assert ctx.compact(NGSI_LD + "location") == "here"  # the user's term first
    assert ctx.compact(NGSI_LD + "observedAt") == "observedAt"  # then the core's
    assert ctx.compact(DEFAULT + "speed") == "speed"  # the default vocab gives the bare term
    assert ctx.compact("https://example.org/speed") == "ex:speed"  # then a compact IRI
    assert ctx.compact(NGSI_LD + "somethingNew") == "ngsi-ld:somethingNew"
    assert ctx.compact("https://unknown.org/x") == "https://unknown.org/x"
    assert ctx.compact("urn:car") == "car"
    assert ctx.compact("@id") == "id"


def test_compact_never_yields_an_ambiguous_vocab_suffix(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(None)
    for iri in (DEFAULT + "a:b", DEFAULT + "location", DEFAULT + "@x"):
        assert ctx.compact(iri).startswith("ngsi-ld:default-context/")
        assert ctx.expand(ctx.compact(iri)) == iri


def test_compact_is_memoised(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(ENV_URL)
    assert ctx.compact(ENV + "pm25") is ctx.compact(ENV + "pm25")
    assert ctx.expand("pm25") is ctx.expand("pm25")


_CONTEXTS = [None, SUITE_URL, COMPOUND_URL, ENV_URL, CITYOS_CONTEXT_URL]
_NAMES = st.text(
    alphabet=st.characters(exclude_characters=":", exclude_categories=["Cs"]), min_size=1
).filter(lambda t: not t.startswith("@"))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), which=st.sampled_from(_CONTEXTS))
def test_compact_inverts_expand(
    resolver: ContextResolver, data: st.DataObject, which: str | None
) -> None:
    ctx = resolver.resolve(which)
    term = data.draw(_NAMES | st.sampled_from(sorted(ctx.terms)))
    assert ctx.compact(ctx.expand(term)) == term


@settings(max_examples=100, deadline=None)
@given(
    names=st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,20}", fullmatch=True), max_size=8),
    probe=_NAMES,
)
def test_compact_inverts_expand_for_random_user_contexts(
    resolver: ContextResolver, names: list[str], probe: str
) -> None:
    context = {name: f"https://example.org/ns/{index}/{name}" for index, name in enumerate(names)}
    ctx = resolver.resolve(context)
    for term in [*names, probe]:
        assert ctx.compact(ctx.expand(term)) == term


@settings(max_examples=200, deadline=None)
@given(
    which=st.sampled_from(_CONTEXTS),
    iri=st.sampled_from([NGSI_LD, DEFAULT, ENV, "https://example.org/", "urn:x:"]).flatmap(
        lambda base: st.text(min_size=1).map(lambda rest: base + rest)
    ),
)
def test_expand_inverts_compact(resolver: ContextResolver, which: str | None, iri: str) -> None:
    ctx = resolver.resolve(which)
    assert ctx.expand(ctx.compact(iri)) == iri


# --- resolver sources and caches ------------------------------------------------------------


def test_same_context_resolves_to_the_same_object(resolver: ContextResolver) -> None:
    assert resolver.resolve(ENV_URL) is resolver.resolve(ENV_URL)
    inline = {"b": "urn:b", "a": "urn:a"}
    assert resolver.resolve(inline) is resolver.resolve({"a": "urn:a", "b": "urn:b"})
    assert resolver.resolve(None) is resolver.core


def test_context_cache_is_bounded() -> None:
    with offline(cache_size=2) as small:
        first = small.resolve({"a": "urn:a"})
        small.resolve({"b": "urn:b"})
        assert small.resolve({"a": "urn:a"}) is first
        small.resolve({"c": "urn:c"})
        small.resolve({"d": "urn:d"})
        assert small.resolve({"a": "urn:a"}) is not first


def test_configured_files_resolve_offline(tmp_path: Path) -> None:
    path = tmp_path / "ctx.jsonld"
    path.write_text(json.dumps({"@context": {"Tram": "https://sejong.example/Tram"}}))
    with offline(context_files={"https://sejong.example/ctx.jsonld": path}) as local:
        ctx = local.resolve("https://sejong.example/ctx.jsonld")
        assert ctx.expand_type("Tram") == "https://sejong.example/Tram"


def test_configured_files_come_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "ctx.jsonld"
    path.write_text(json.dumps({"@context": {"Tram": "https://sejong.example/Tram"}}))
    config = Settings(mode="test", context_files={"https://sejong.example/c.jsonld": path})
    with ContextResolver(config, allow_network=False) as local:
        assert local.resolve("https://sejong.example/c.jsonld").expand("Tram").endswith("/Tram")


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"no": "context"})])
def test_bad_configured_file_is_refused_at_start(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "ctx.jsonld"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError, match="CITYOS_CONTEXT_FILES"):
        offline(context_files={"https://sejong.example/ctx.jsonld": path})


def test_stored_contexts_register_and_unregister() -> None:
    url = "http://broker.example/ngsi-ld/v1/jsonldContexts/abc"
    with offline() as local:
        local.add_stored(url, {"@context": {"Bus": "https://sejong.example/Bus"}})
        assert local.resolve(url).expand("Bus") == "https://sejong.example/Bus"
        local.add_stored(url, {"Bus": "https://sejong.example/Bus2"})  # a bare context too
        assert local.resolve(url).expand("Bus") == "https://sejong.example/Bus2"
        local.remove_stored(url)
        local.remove_stored(url)  # unknown: no error
        with pytest.raises(LdContextNotAvailable, match=url):
            local.resolve(url)


def test_stored_context_is_checked() -> None:
    with offline() as local, pytest.raises(BadRequestData):
        local.add_stored("urn:ctx:1", {"@context": {"a": 5}})


def test_link_and_body_values(resolver: ContextResolver) -> None:
    rel = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    assert resolver.resolve(ENV_URL).link_value() == f"<{ENV_URL}>; {rel}"
    assert resolver.resolve(None).link_value() == f"<{CORE_CONTEXT_URL}>; {rel}"
    assert resolver.resolve([ENV_URL, CORE_CONTEXT_URL]).url == ENV_URL
    inline = resolver.resolve({"a": "urn:a"})
    assert inline.url is None
    assert inline.link_value("http://h/c/1") == f"<http://h/c/1>; {rel}"
    assert inline.body_value() == {"a": "urn:a"}
    assert resolver.resolve(None).body_value() == CORE_CONTEXT_URL
    assert resolver.resolve(ENV_URL).body_value() == ENV_URL
    assert len(inline.digest) == 32
