"""Linked entity retrieval: follow Relationships to their targets (GS CIM 009 v1.8.1, 4.5.23).

``join=inline`` embeds each target under its Relationship (``entity``; ``entityList`` for a
ListRelationship; in keyValues the target replaces the URI), ``join=flat`` appends the
distinct targets after the requested entities. ``joinLevel`` (default 1) bounds the depth;
``containedBy`` names entities already retrieved elsewhere, which are not fetched again.
Targets come from the request's tenant, one store query per level (ids IN …), and a target
the caller may not read, that does not exist, or that is already on the path (a loop) is
left out. Nested projections (``pick=id,locatedAt{id,name}``, 4.21) shape linked entities.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cityos.hub._ints import whole_number
from cityos.hub.errors import BadRequestData, TooManyResults
from cityos.hub.model import is_uri
from cityos.hub.render import Compactor, RenderOptions, render_entity
from cityos.hub.store.base import Entity, EntityQuery, HubStore

JoinKind = Literal["inline", "flat"]
JOIN_VALUES = ("inline", "flat", "@none")
DEFAULT_JOIN_LEVEL = 1
MAX_JOIN_LEVEL = 20  # deeper graphs are answered up to this level (a bound on the work)
# Linked entities one answer may carry: inline renders a target once per Relationship that
# reaches it, so a dense graph grows geometrically with joinLevel; past this, 403.
MAX_LINKED_ENTITIES = 10_000
_IDS_PER_QUERY = 1000  # targets per store query (SQL parameters stay well under limits)
_TOKEN = re.compile(r"\s*(?:([{}|,])|([^\s<>\"'=;()\[\]{},|]+))\s*")


@dataclass(frozen=True, slots=True)
class Projection:
    """A ``pick``/``omit`` list: its members, and for some of them the linked entity's list."""

    members: tuple[str, ...]
    nested: Mapping[str, Projection] = field(default_factory=dict)

    def depth(self) -> int:
        """Return how many linked-entity hops the nested lists reach (0: none)."""
        return max((1 + inner.depth() for inner in self.nested.values()), default=0)

    def flat_members(self) -> tuple[str, ...]:
        """Return the members to drop at this level for ``omit`` (those without a nested list)."""
        return tuple(m for m in self.members if m not in self.nested)


def parse_projection_tree(text: str, name: str) -> Projection:
    """Return the projection ``text`` writes, e.g. ``id,locatedAt{id,name}`` (4.21).

    Members are separated by ``,`` or ``|``; ``member{…}`` applies ``…`` to the entity the
    member (a Relationship) links to. Bad syntax is BadRequestData.
    """
    tokens: list[str] = []
    kinds: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _bad_projection(
                name,
                text,
                f"unexpected {text[pos : pos + 10]!r}",
                f"예상하지 못한 {text[pos : pos + 10]!r}",
            )
        punct, word = match.groups()
        tokens.append(punct or word)
        kinds.append("punct" if punct else "name")
        pos = match.end()

    def parse(i: int, depth: int) -> tuple[Projection, int]:
        members: list[str] = []
        nested: dict[str, Projection] = {}
        while True:
            if i >= len(tokens) or kinds[i] != "name":
                got = repr(tokens[i]) if i < len(tokens) else "the end"
                got_ko = repr(tokens[i]) if i < len(tokens) else "끝"
                raise _bad_projection(
                    name,
                    text,
                    f"expected an attribute name, got {got}",
                    f"속성 이름이 와야 하는데 {got_ko}이(가) 왔습니다",
                )
            member = tokens[i]
            i += 1
            if i < len(tokens) and tokens[i] == "{":
                inner, i = parse(i + 1, depth + 1)
                if i >= len(tokens) or tokens[i] != "}":
                    raise _bad_projection(
                        name,
                        text,
                        f"'{{' after {member!r} is never closed",
                        f"{member!r} 뒤의 '{{'가 닫히지 않았습니다",
                    )
                nested[member] = inner
                i += 1
            members.append(member)
            if i < len(tokens) and tokens[i] in (",", "|"):
                i += 1
                continue
            if depth == 0 and i < len(tokens):
                raise _bad_projection(
                    name, text, f"unexpected {tokens[i]!r}", f"예상하지 못한 {tokens[i]!r}"
                )
            return Projection(tuple(members), nested), i

    if not tokens:
        raise _bad_projection(name, text, "it names no attribute", "속성 이름이 없습니다")
    return parse(0, 0)[0]


def _bad_projection(name: str, text: str, why: str, why_ko: str) -> BadRequestData:
    return BadRequestData(
        f"{name}={text!r} is not a comma list of attribute names ({why}) / "
        f"{name}={text!r}은(는) 쉼표로 구분한 속성 이름 목록이 아닙니다({why_ko})"
    )


def merge_projections(values: str | list[str] | None, name: str) -> Projection | None:
    """Return one projection for a ``pick``/``omit`` value (a string or a JSON array of them)."""
    if values is None:
        return None
    items = values if isinstance(values, list) else [values]
    members: list[str] = []
    nested: dict[str, Projection] = {}
    for item in items:
        tree = parse_projection_tree(str(item), name)
        members += tree.members
        nested.update(tree.nested)
    return Projection(tuple(members), nested)


@dataclass(frozen=True, slots=True)
class LinkedQuery:
    """What linked entity retrieval was asked for: how, how deep, and the nested projections."""

    join: JoinKind
    level: int = DEFAULT_JOIN_LEVEL
    contained_by: frozenset[str] = frozenset()
    pick: Projection | None = None
    omit: Projection | None = None


def _bad(what: str, what_ko: str) -> BadRequestData:
    return BadRequestData(f"{what} / {what_ko}")


def parse_linked_query(params: Mapping[str, Any]) -> LinkedQuery | None:
    """Return the linked retrieval that ``join``/``joinLevel``/``containedBy`` ask for, or None.

    None for no ``join`` or ``join=@none``; bad values, and a nested ``pick``/``omit`` deeper
    than ``joinLevel`` (5.7.2.4), are BadRequestData (English/Korean).
    """
    if not params:  # the common retrieval without parameters
        return None
    join = params.get("join")
    level = _join_level(params.get("joinLevel"))
    contained_by = _contained_by(params.get("containedBy"))
    if join is None or join == "@none":
        return None
    if join not in JOIN_VALUES:
        raise _bad(
            f"join must be inline, flat or @none (got {join!r})",
            f"join은 inline, flat, @none 중 하나여야 합니다 (받은 값 {join!r})",
        )
    projections = {name: merge_projections(params.get(name), name) for name in ("pick", "omit")}
    for name, projection in projections.items():
        if projection is not None and projection.depth() > level:
            raise _bad(
                f"{name} reaches {projection.depth()} linked-entity hops, more than "
                f"joinLevel={level}",
                f"{name}이(가) 연결 엔터티 {projection.depth()}단계까지 지정하지만 "
                f"joinLevel은 {level}입니다",
            )
    return LinkedQuery(
        join="inline" if join == "inline" else "flat",
        level=min(level, MAX_JOIN_LEVEL),
        contained_by=contained_by,
        pick=projections["pick"],
        omit=projections["omit"],
    )


def _join_level(value: Any) -> int:
    if value is None:
        return DEFAULT_JOIN_LEVEL
    level = whole_number(value) or 0
    if level < 1:
        raise _bad(
            f"joinLevel must be a positive integer (got {value!r})",
            f"joinLevel은 1 이상의 정수여야 합니다 (받은 값 {value!r})",
        )
    return level


def _contained_by(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value if isinstance(value, list) else str(value).split(",")
    ids = [str(i).strip() for i in items if str(i).strip()]
    for entity_id in ids:
        if not is_uri(entity_id):
            raise _bad(
                f"containedBy must list entity ids (URIs); {entity_id!r} is not one",
                f"containedBy에는 엔터티 ID(URI)만 올 수 있습니다: {entity_id!r}",
            )
    return frozenset(ids)


@dataclass(slots=True)
class _Node:
    """An entity in the answer whose Relationships may still be followed."""

    entity: Entity
    rendered: dict[str, Any]
    pick: Projection | None
    omit: Projection | None
    path: frozenset[str]  # ids from the requested entity down to this one (loop guard)
    datasets: Any = None  # the root's datasetId filter; linked entities show every instance


@dataclass(slots=True)
class _Slot:
    """One Relationship (or ListRelationship) instance in a rendered entity."""

    iri: str
    kind: str
    targets: list[str]
    container: Any  # the dict (or list) that holds the rendered instance
    key: Any  # its key (or index) there


def _slots(node: _Node, ctx: Compactor) -> Iterator[_Slot]:
    """Yield the Relationship instances of ``node`` that its rendering kept."""
    for iri, instances in node.entity["attrs"].items():
        if not any(i["type"] in ("Relationship", "ListRelationship") for i in instances):
            continue
        name = ctx.compact(iri)
        if name not in node.rendered:
            continue
        if node.datasets is not None:
            instances = [i for i in instances if i.get("datasetId") in node.datasets]
        value = node.rendered[name]
        places: list[tuple[Any, Any]] = (
            [(node.rendered, name)]
            if len(instances) == 1
            else [(value, n) for n in range(len(instances))]
        )
        for inst, (container, key) in zip(instances, places, strict=True):
            if inst["type"] == "Relationship":
                obj = inst["object"]
                targets = [obj] if isinstance(obj, str) else list(obj)
            elif inst["type"] == "ListRelationship":
                targets = list(inst["objectList"])
            else:
                continue
            yield _Slot(iri, inst["type"], targets, container, key)


def _sub(
    projection: Projection | None, iri: str, expand: Callable[[str], str]
) -> Projection | None:
    """Return the nested projection of ``projection`` for the Relationship ``iri``."""
    if projection is None:
        return None
    for member, inner in projection.nested.items():
        if expand(member) == iri:
            return inner
    return None


def link_entities(
    store: HubStore | None,
    tenant: str,
    roots: list[tuple[Entity, dict[str, Any]]],
    ctx: Compactor,
    opts: RenderOptions,
    linked: LinkedQuery,
    *,
    expand: Callable[[str], str],
    may_read: Callable[[Iterable[str]], bool],
    fetch: Callable[[list[str]], Iterable[Entity]] | None = None,
) -> list[tuple[Entity, dict[str, Any]]]:
    """Embed (inline) linked entities into ``roots``' renderings, or return them (flat).

    ``roots`` are the requested entities with their renderings (changed in place for
    inline). Returns, for flat, the distinct linked entities not among the roots, level by
    level; for inline, []. Runs one store query per level (per 1000 targets), in
    ``tenant`` only; more than MAX_LINKED_ENTITIES linked entities is TooManyResults.
    ``fetch`` reads the entities among some ids instead of the store (a notification reads
    them in the writing transaction: ``Transaction.peek_many``).
    """
    if fetch is None:
        assert store is not None, "link_entities needs a store or a fetch"
        source = store

        def fetch(ids: list[str]) -> Iterable[Entity]:
            return _fetch(source, tenant, ids)

    seen = {e["id"] for e, _ in roots} | set(linked.contained_by)
    frontier = [
        _Node(e, r, linked.pick, linked.omit, frozenset({e["id"]}), opts.datasets) for e, r in roots
    ]
    extra: list[tuple[Entity, dict[str, Any]]] = []
    count = 0
    base = dataclasses.replace(opts, attrs=None, pick=None, omit=(), datasets=None)
    for _ in range(linked.level):
        wanted: list[tuple[_Node, _Slot]] = [(n, s) for n in frontier for s in _slots(n, ctx)]
        ids = {
            t
            for node, slot in wanted
            for t in slot.targets
            if t not in linked.contained_by and t not in node.path
        }
        if linked.join == "flat":
            ids -= seen
        if not ids:
            break
        found = {e["id"]: e for e in fetch(sorted(ids)) if may_read(e["type"])}
        frontier = []
        for node, slot in wanted:
            pick = _sub(node.pick, slot.iri, expand)
            omit = _sub(node.omit, slot.iri, expand)
            child_opts = dataclasses.replace(
                base,
                pick=None if pick is None else {_expand_member(m, expand) for m in pick.members},
                omit={_expand_member(m, expand) for m in omit.flat_members()} if omit else (),
            )
            embedded: list[tuple[str, dict[str, Any] | None]] = []
            for target in slot.targets:
                entity = found.get(target)
                if entity is None or target in node.path:
                    embedded.append((target, None))
                    continue
                if linked.join == "flat" and target in seen:
                    continue
                rendered = render_entity(entity, ctx, child_opts)
                if not rendered:
                    embedded.append((target, None))
                    continue
                frontier.append(_Node(entity, rendered, pick, omit, node.path | {target}))
                count += 1
                if count > MAX_LINKED_ENTITIES:
                    raise _too_many()
                embedded.append((target, rendered))
                if linked.join == "flat":
                    seen.add(target)
                    extra.append((entity, rendered))
            if linked.join == "inline":
                _embed(slot, embedded, opts.format)
        if not frontier:
            break
    return extra


def _fetch(store: HubStore, tenant: str, ids: list[str]) -> Iterator[Entity]:
    """Yield the entities among ``ids`` in ``tenant``: one query (per 1000 ids)."""
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = tuple(ids[start : start + _IDS_PER_QUERY])
        yield from store.iter_all(tenant, EntityQuery(ids=chunk, limit=len(chunk)))


def _too_many() -> TooManyResults:
    return TooManyResults(
        f"join would answer more than {MAX_LINKED_ENTITIES} linked entities; lower joinLevel "
        f"or limit / join 결과의 연결 엔터티가 {MAX_LINKED_ENTITIES}개를 넘습니다. joinLevel "
        f"또는 limit을 줄이세요"
    )


def _expand_member(member: str, expand: Callable[[str], str]) -> str:
    return member if member in ("id", "type") else expand(member)


def _embed(slot: _Slot, embedded: list[tuple[str, dict[str, Any] | None]], fmt: str) -> None:
    """Put the linked entities of one Relationship instance into its rendering."""
    if not any(r is not None for _, r in embedded):
        return
    current = slot.container[slot.key]
    if fmt == "keyValues":  # the entity stands where its URI was
        if slot.kind == "ListRelationship":
            slot.container[slot.key] = [r if r is not None else t for t, r in embedded]
        elif isinstance(current, str):
            slot.container[slot.key] = embedded[0][1] or current
        else:  # a Relationship with several objects
            slot.container[slot.key] = [r if r is not None else t for t, r in embedded]
        return
    entities = [r for _, r in embedded if r is not None]
    if slot.kind == "ListRelationship":
        current["entityList"] = entities
    else:
        current["entity"] = entities[0] if len(entities) == 1 else entities
