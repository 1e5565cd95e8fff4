"""ContextUsage: what resolution notes for /jsonldContexts (Cached records, numberOfHits)."""

from __future__ import annotations

from cityos.config import Settings
from cityos.hub._context_sources import BUILTIN_CONTEXT_FILES, read_builtin
from cityos.hub._context_usage import MAX_PENDING_CACHED, ContextUsage
from cityos.hub.context import ContextResolver

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
SDM = "https://smart-data-models.github.io/dataModel.Parking/context.jsonld"


def test_a_url_is_recorded_once_and_hits_add_up() -> None:
    usage = ContextUsage(frozenset({CORE}))
    usage.cached("https://a.example/c.jsonld", {"A": "urn:a"})
    usage.cached("https://a.example/c.jsonld", {"A": "urn:a"})  # loaded again: no new record
    usage.cached(CORE, {})  # the core context is listed apart
    for _ in range(3):
        usage.hit("https://a.example/c.jsonld")
    new, hits = usage.drain()
    assert [(n.url, n.context) for n in new] == [("https://a.example/c.jsonld", {"A": "urn:a"})]
    assert new[0].created_at.endswith("Z")
    assert hits["https://a.example/c.jsonld"].count == 3
    assert usage.drain() == ([], {})  # drained
    usage.cached("https://a.example/c.jsonld", {"A": "urn:a"})
    assert usage.drain() == ([], {})  # still known: it has a record


def test_a_forgotten_url_is_recorded_again_and_put_back_keeps_counts() -> None:
    usage = ContextUsage()
    usage.known("https://h.example/hosted")
    usage.cached("https://h.example/hosted", {})
    usage.hit("https://h.example/hosted")
    new, hits = usage.drain()
    assert new == []
    usage.put_back(new, hits)  # the store refused: nothing lost
    usage.hit("https://h.example/hosted")
    assert usage.drain()[1]["https://h.example/hosted"].count == 2
    usage.forget("https://h.example/hosted")
    usage.cached("https://h.example/hosted", {"B": "urn:b"})
    assert [n.url for n in usage.drain()[0]] == ["https://h.example/hosted"]


def test_pending_records_are_bounded() -> None:
    usage = ContextUsage()
    for n in range(MAX_PENDING_CACHED + 10):
        usage.cached(f"https://a.example/{n}", {})
    assert len(usage.drain()[0]) == MAX_PENDING_CACHED


def test_the_resolver_notes_loads_and_uses() -> None:
    with ContextResolver(Settings(mode="test"), allow_network=False) as resolver:
        resolver.resolve([SDM, {"x": "urn:x"}])
        resolver.note_use([SDM, CORE, {"x": "urn:x"}])  # the core and inline parts: no hits
        resolver.note_use(SDM)
        new, hits = resolver.usage.drain()
        assert [n.url for n in new] == [SDM]
        assert {u: h.count for u, h in hits.items()} == {SDM: 2}
        resolver.remove_stored(SDM)  # its record was deleted: loaded and recorded anew
        resolver.resolve(SDM)
        assert [n.url for n in resolver.usage.drain()[0]] == [SDM]
        # reload reads the offline copy again (no network needed for a shipped context)
        assert resolver.reload(SDM) == read_builtin(BUILTIN_CONTEXT_FILES[SDM])
