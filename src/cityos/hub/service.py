"""NGSI-LD entity operations on internal entities: the verbs the API and batch call.

Each function changes one entity inside a store transaction, so a failure leaves it as it
was (GS CIM 009 v1.8, 5.6). Attribute-level results follow the UpdateResult shape.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cityos.hub._time import utc_now
from cityos.hub.errors import AlreadyExists, BadRequestData, ResourceNotFound
from cityos.hub.model import (
    ENTITY_KEYWORDS,
    NULL_URI,
    Expander,
    check_scope,
    expand_attribute,
    expand_attributes,
    expand_entity,
    expand_instance,
    expand_types,
)
from cityos.hub.store.base import Entity, HubStore, Transaction, one_transaction

# The members that hold an attribute instance's value, one per attribute type.
VALUE_KEYWORDS = ("value", "object", "languageMap", "vocab", "valueList", "objectList", "json")


@dataclass
class UpdateResult:
    """Which attributes an update changed, and why the others were left alone.

    Attributes are named by their expanded IRI (the Fully Qualified Name, 6.3.6), whatever
    the request called them: the v1.8.1 OpenAPI's 207 UpdateResult answer says so.
    """

    updated: list[str] = field(default_factory=list)
    not_updated: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """Return the NGSI-LD UpdateResult JSON."""
        return {"updated": self.updated, "notUpdated": self.not_updated}


def _require(tx: Transaction, entity_id: str) -> Entity:
    found = tx.get_many([entity_id])
    if entity_id not in found:
        raise ResourceNotFound(
            f"entity {entity_id} does not exist / 엔터티 {entity_id}이(가) 없습니다",
            instance=entity_id,
        )
    return found[entity_id]


def _keep_created(old: list[dict[str, Any]] | None, new: list[dict[str, Any]]) -> None:
    """Carry each instance's original createdAt over to the instance that replaces it."""
    if not old:
        return
    created = {inst.get("datasetId"): inst.get("createdAt") for inst in old}
    for inst in new:
        if inst.get("datasetId") in created and created[inst.get("datasetId")]:
            inst["createdAt"] = created[inst.get("datasetId")]


def merge_instances(
    current: list[dict[str, Any]], incoming: list[dict[str, Any]], *, overwrite: bool = True
) -> list[dict[str, Any]]:
    """Return ``current`` with ``incoming`` instances replacing those of equal datasetId."""
    by_dataset = {inst.get("datasetId"): inst for inst in current}
    for inst in incoming:
        key = inst.get("datasetId")
        if key in by_dataset and not overwrite:
            continue
        if key in by_dataset and by_dataset[key].get("createdAt"):
            inst["createdAt"] = by_dataset[key]["createdAt"]
        by_dataset[key] = inst
    return list(by_dataset.values())


@one_transaction
def create_entity(store: HubStore, tenant: str, body: object, ctx: Expander) -> Entity:
    """Create an entity; AlreadyExists if its id is taken."""
    entity = expand_entity(body, ctx, now=utc_now())
    with store.transaction(tenant) as tx:
        if tx.get_many([entity["id"]]):
            raise AlreadyExists(
                f"entity {entity['id']} already exists / 엔터티 {entity['id']}이(가) 이미 있습니다",
                instance=entity["id"],
            )
        tx.insert([entity])
    return entity


@one_transaction
def delete_entity(store: HubStore, tenant: str, entity_id: str) -> None:
    """Delete an entity; ResourceNotFound if there is none."""
    with store.transaction(tenant) as tx:
        _require(tx, entity_id)
        tx.delete([entity_id])


def _check_fragment_id(body: Mapping[str, Any], entity_id: str) -> None:
    for key in ("id", "@id"):
        if key in body and body[key] != entity_id:
            raise BadRequestData(
                f"the body's id {body[key]!r} differs from the entity id in the URL {entity_id}"
                f" / 본문의 id {body[key]!r}이(가) URL의 엔터티 id {entity_id}와 다릅니다"
            )


@one_transaction
def append_attributes(
    store: HubStore,
    tenant: str,
    entity_id: str,
    body: object,
    ctx: Expander,
    *,
    no_overwrite: bool = False,
) -> UpdateResult:
    """Add attributes to an entity, overwriting existing ones unless ``no_overwrite``."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object of attributes / 본문은 속성들의 JSON 객체여야 합니다"
        )
    _check_fragment_id(body, entity_id)
    now = utc_now()
    incoming = expand_attributes(body, ctx, now=now)
    result = UpdateResult()
    with store.transaction(tenant) as tx:
        entity = _require(tx, entity_id)
        if "type" in body:
            for type_iri in expand_types(body["type"], ctx):
                if type_iri not in entity["type"]:
                    entity["type"].append(type_iri)
        if "scope" in body:
            scope = check_scope(body["scope"])
            if no_overwrite:  # keep the scopes the entity has, add the new ones
                scope = [
                    *entity.get("scope", []),
                    *(s for s in scope if s not in entity.get("scope", [])),
                ]
            entity["scope"] = scope
        for iri, instances in incoming.items():
            current = entity["attrs"].get(iri)
            if current and no_overwrite:
                clash = {i.get("datasetId") for i in current} & {
                    i.get("datasetId") for i in instances
                }
                if clash:
                    result.not_updated.append(
                        {
                            "attributeName": iri,
                            "reason": "attribute exists and options=noOverwrite was given",
                        }
                    )
                    entity["attrs"][iri] = merge_instances(current, instances, overwrite=False)
                    continue
            entity["attrs"][iri] = merge_instances(current or [], instances)
            result.updated.append(iri)
        entity["modifiedAt"] = now
        tx.replace([entity])
    return result


@one_transaction
def update_attributes(
    store: HubStore, tenant: str, entity_id: str, body: object, ctx: Expander
) -> UpdateResult:
    """Update attributes that exist (PATCH …/attrs); report the others as not updated."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object of attributes / 본문은 속성들의 JSON 객체여야 합니다"
        )
    _check_fragment_id(body, entity_id)
    now = utc_now()
    nulls: dict[str, list[str | None]] = {}
    fragment: dict[str, Any] = {}
    for name, raw in body.items():
        if name in ENTITY_KEYWORDS:
            fragment[name] = raw
            continue
        deletes, rest = _split_nulls(raw)
        if deletes:
            nulls[ctx.expand(name)] = deletes
        if rest is not None:
            fragment[name] = rest
    incoming = expand_attributes(fragment, ctx, now=now)
    scope_iri = ctx.expand("scope")
    result = UpdateResult()
    with store.transaction(tenant) as tx:
        entity = _require(tx, entity_id)
        if "type" in body:  # types are only ever added (4.6.3)
            for type_iri in expand_types(body["type"], ctx):
                if type_iri not in entity["type"]:
                    entity["type"].append(type_iri)
            result.updated.append("type")
        if "scope" in body:  # scope is updated like an attribute: only if it exists
            if "scope" in entity:
                entity["scope"] = check_scope(body["scope"])
                result.updated.append(scope_iri)
            else:
                result.not_updated.append(
                    {"attributeName": scope_iri, "reason": "the entity has no scope"}
                )
        for iri, dataset_ids in nulls.items():
            if _delete_instances(entity, iri, dataset_ids):
                result.updated.append(iri)
            elif iri not in incoming:
                result.not_updated.append(
                    {"attributeName": iri, "reason": "the entity has no such attribute"}
                )
        for iri, instances in incoming.items():
            current = entity["attrs"].get(iri)
            known = {i.get("datasetId") for i in current or []}
            fitting = [i for i in instances if i.get("datasetId") in known]
            if not fitting:
                result.not_updated.append(
                    {
                        "attributeName": iri,
                        "reason": "the entity has no such attribute "
                        "(or no instance with that datasetId); use POST …/attrs to add it",
                    }
                )
                continue
            assert current is not None
            entity["attrs"][iri] = merge_instances(current, fitting)
            if iri not in result.updated:
                result.updated.append(iri)
        if result.updated:
            entity["modifiedAt"] = now
            # only existing attributes' instances changed, unless types, scope or a
            # deletion (which may remove an attribute) did too
            only_values = not nulls and "type" not in body and "scope" not in body
            tx.replace([entity], changed=list(result.updated) if only_values else None)
    result.updated = [n for n in result.updated if n != "type"]
    return result


def _copy_json(value: Any) -> Any:
    """Return a deep copy of a JSON value (what ``copy.deepcopy`` returns, ~10x cheaper).

    Stored instances are parsed JSON: dicts, lists, strings, numbers, booleans and None.
    Anything else goes to ``copy.deepcopy``.
    """
    kind = type(value)
    if kind is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if kind is list:
        return [_copy_json(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def _merge_instance(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return ``old`` with the members of ``patch`` merged in (sub-attributes recursively).

    A value member (``value``, ``json``, ``languageMap`` …) is replaced whole, never merged:
    5.5.8 replaces each member of the fragment that the target has, and only sub-attributes
    are members with members of their own. A JSON object value with a ``type`` key (a
    JsonProperty's ``json``, a GeoJSON or structured ``value``) is not a sub-attribute.
    """
    merged = _copy_json(old)
    kind_changed = patch.get("type") != old.get("type")
    if kind_changed:
        for key in VALUE_KEYWORDS:
            merged.pop(key, None)
    for key, val in patch.items():
        if key == "createdAt":
            continue
        if (
            key not in VALUE_KEYWORDS
            and isinstance(val, dict)
            and isinstance(merged.get(key), dict)
            and "type" in val
        ):
            merged[key] = _merge_instance(merged[key], val)
        else:
            merged[key] = val
    return merged


def _raw_is_null(raw: object) -> bool:
    if raw == NULL_URI:
        return True
    if isinstance(raw, Mapping):
        return any(raw.get(k) == NULL_URI for k in ("value", "object", "vocab")) or (
            raw.get("languageMap") == {"@none": NULL_URI}
        )
    return False


def _split_nulls(raw: object) -> tuple[list[str | None], object | None]:
    """Split an attribute fragment into the datasetIds its NGSI-LD Nulls delete and the rest.

    An NGSI-LD Null (``urn:ngsi-ld:null`` as the value, object, vocab or ``@none`` language
    map) deletes the instance with the same datasetId (GS CIM 009 v1.8, 4.5.0, 5.6.2, 5.6.4).
    The rest is None when every instance of the fragment is a Null.
    """
    many = isinstance(raw, list) and bool(raw) and all(isinstance(r, Mapping) for r in raw)
    items: list[Any] = list(raw) if isinstance(raw, list) and many else [raw]
    deletes = [
        r.get("datasetId") if isinstance(r, Mapping) else None for r in items if _raw_is_null(r)
    ]
    rest = [r for r in items if not _raw_is_null(r)]
    if not rest:
        return deletes, None
    return deletes, rest if many else rest[0]


def _delete_instances(entity: Entity, iri: str, dataset_ids: list[str | None]) -> bool:
    """Remove the instances of one attribute with these datasetIds; True if any existed."""
    current = entity["attrs"].get(iri) or []
    remaining = [i for i in current if i.get("datasetId") not in dataset_ids]
    if len(remaining) == len(current):
        return False
    if remaining:
        entity["attrs"][iri] = remaining
    else:
        entity["attrs"].pop(iri, None)
    return True


@one_transaction
def patch_attribute(
    store: HubStore, tenant: str, entity_id: str, attr: str, body: object, ctx: Expander
) -> None:
    """Partially update one attribute (PATCH …/attrs/{attr}), merging its members."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object (the attribute's new members)"
            " / 본문은 JSON 객체(속성의 새 멤버)여야 합니다"
        )
    now = utc_now()
    iri = ctx.expand(attr)
    with store.transaction(tenant) as tx:
        entity = _require(tx, entity_id)
        current = entity["attrs"].get(iri)
        dataset = body.get("datasetId")
        target = next((i for i in current or [] if i.get("datasetId") == dataset), None)
        if target is None:
            which = f" with datasetId {dataset}" if dataset else ""
            raise ResourceNotFound(
                f"entity {entity_id} has no attribute {attr!r}{which}"
                f" / 엔터티 {entity_id}에 {f'datasetId가 {dataset}인 ' if dataset else ''}속성 "
                f"{attr!r}이(가) 없습니다"
            )
        assert current is not None
        if _raw_is_null(body):
            _delete_instances(entity, iri, [dataset])
            entity["modifiedAt"] = now
            tx.replace([entity])
            return
        patch = {k: v for k, v in body.items() if k != "@context"}
        patch.setdefault("type", target["type"])
        if patch["type"] != target["type"]:
            raise BadRequestData(
                f"attribute {attr!r} is a {target['type']}; a partial update cannot make it "
                f"a {patch['type']} (replace the attribute instead)"
                f" / 속성 {attr!r}은(는) {target['type']}입니다. 부분 업데이트로 "
                f"{patch['type']}(으)로 바꿀 수 없습니다(대신 속성을 교체하세요)"
            )
        # A partial update names only the members that change: the value (object,
        # languageMap, ...) it leaves out is the one the attribute has (5.6.4).
        for key in VALUE_KEYWORDS:
            if key in target and key not in patch:
                patch[key] = target[key]
        new = expand_instance(patch, attr, iri, ctx, now=now)
        merged = _merge_instance(target, new)
        merged["modifiedAt"] = now
        entity["attrs"][iri] = [merged if i is target else i for i in current]
        entity["modifiedAt"] = now
        tx.replace([entity], changed=(iri,))  # types, scopes and attribute names as read


@one_transaction
def replace_attribute(
    store: HubStore, tenant: str, entity_id: str, attr: str, body: object, ctx: Expander
) -> None:
    """Replace one attribute instance whole (PUT …/attrs/{attr}, 5.6.19), keeping createdAt.

    The instance replaced is the one with the body's datasetId (the default one without).
    """
    if attr in ENTITY_KEYWORDS:
        raise BadRequestData(
            f"{attr!r} is not an attribute; it cannot be replaced this way"
            f" / {attr!r}은(는) 속성이 아니므로 이 방법으로 바꿀 수 없습니다"
        )
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object: the attribute's new content"
            " / 본문은 JSON 객체(속성의 새 내용)여야 합니다"
        )
    raw = {k: v for k, v in body.items() if k != "@context"}
    now = utc_now()
    iri, instances = expand_attribute(raw, attr, ctx, now=now)
    with store.transaction(tenant) as tx:
        entity = _require(tx, entity_id)
        current = entity["attrs"].get(iri) or []
        known = {i.get("datasetId") for i in current}
        for inst in instances:
            if inst.get("datasetId") not in known:
                which = f" with datasetId {inst['datasetId']}" if "datasetId" in inst else ""
                which_ko = f"datasetId가 {inst['datasetId']}인 " if "datasetId" in inst else ""
                raise ResourceNotFound(
                    f"entity {entity_id} has no attribute {attr!r}{which}"
                    f" / 엔터티 {entity_id}에 {which_ko}속성 {attr!r}이(가) 없습니다"
                )
        _keep_created(current, instances)
        entity["attrs"][iri] = merge_instances(current, instances)
        entity["modifiedAt"] = now
        tx.replace([entity], changed=(iri,) if current else None)


@one_transaction
def delete_attribute(
    store: HubStore,
    tenant: str,
    entity_id: str,
    attr: str,
    ctx: Expander,
    *,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> None:
    """Delete an attribute's default instance, one datasetId, or every instance."""
    iri = ctx.expand(attr)
    with store.transaction(tenant) as tx:
        entity = _require(tx, entity_id)
        if attr == "scope":  # scope is deleted like an attribute (5.6.5)
            if "scope" not in entity:
                raise ResourceNotFound(
                    f"entity {entity_id} has no scope / 엔터티 {entity_id}에 scope가 없습니다"
                )
            del entity["scope"]
            entity["modifiedAt"] = utc_now()
            tx.replace([entity])
            return
        current = entity["attrs"].get(iri)
        if not current:
            raise ResourceNotFound(
                f"entity {entity_id} has no attribute {attr!r}"
                f" / 엔터티 {entity_id}에 속성 {attr!r}이(가) 없습니다"
            )
        if delete_all:
            remaining: list[dict[str, Any]] = []
        else:
            remaining = [i for i in current if i.get("datasetId") != dataset_id]
            if len(remaining) == len(current):
                which = f"datasetId {dataset_id}" if dataset_id else "a default instance"
                which_ko = f"datasetId가 {dataset_id}인 인스턴스" if dataset_id else "기본 인스턴스"
                raise ResourceNotFound(
                    f"attribute {attr!r} of {entity_id} has no {which}"
                    f" / 엔터티 {entity_id}의 속성 {attr!r}에 {which_ko}가 없습니다"
                )
        if remaining:
            entity["attrs"][iri] = remaining
        else:
            del entity["attrs"][iri]
        entity["modifiedAt"] = utc_now()
        tx.replace([entity])


@one_transaction
def replace_entity(
    store: HubStore, tenant: str, entity_id: str, body: object, ctx: Expander
) -> None:
    """Replace an entity whole (PUT), keeping its creation time."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object: the entity's new content"
            " / 본문은 JSON 객체(엔터티의 새 내용)여야 합니다"
        )
    _check_fragment_id(body, entity_id)
    fresh = expand_entity({**body, "id": entity_id}, ctx, now=utc_now())
    with store.transaction(tenant) as tx:
        old = _require(tx, entity_id)
        fresh["createdAt"] = old["createdAt"]
        tx.replace([fresh])


def check_fragment(body: Mapping[str, Any], ctx: Expander, *, now: str) -> None:
    """Raise BadRequestData if a merge fragment holds an invalid attribute (Nulls are valid)."""
    for name, raw in body.items():
        if name in ENTITY_KEYWORDS:
            continue
        _, rest = _split_nulls(raw)
        if rest is not None:
            expand_attribute(rest, name, ctx, now=now)


def merge_into(entity: Entity, body: Mapping[str, Any], ctx: Expander, *, now: str) -> None:
    """Apply a merge-patch fragment to an internal entity (``urn:ngsi-ld:null`` deletes)."""
    if "type" in body:
        for type_iri in expand_types(body["type"], ctx):
            if type_iri not in entity["type"]:
                entity["type"].append(type_iri)
    if "scope" in body:
        if body["scope"] == NULL_URI:
            entity.pop("scope", None)
        else:
            entity["scope"] = check_scope(body["scope"])
    for name, raw in body.items():
        if name in ("id", "@id", "type", "@type", "@context", "scope", "createdAt", "modifiedAt"):
            continue
        iri = ctx.expand(name)
        deletes, rest = _split_nulls(raw)
        _delete_instances(entity, iri, deletes)
        if rest is None:
            continue
        _, instances = expand_attribute(rest, name, ctx, now=now)
        current = entity["attrs"].get(iri, [])
        by_dataset = {i.get("datasetId"): i for i in current}
        for inst in instances:
            old = by_dataset.get(inst.get("datasetId"))
            by_dataset[inst.get("datasetId")] = _merge_instance(old, inst) if old else inst
        entity["attrs"][iri] = list(by_dataset.values())
    entity["modifiedAt"] = now


@one_transaction
def merge_entity(store: HubStore, tenant: str, entity_id: str, body: object, ctx: Expander) -> None:
    """Merge a fragment into an entity (PATCH /entities/{id}, JSON merge-patch semantics)."""
    if not isinstance(body, Mapping):
        raise BadRequestData(
            "the body must be a JSON object: the fragment to merge"
            " / 본문은 JSON 객체(병합할 조각)여야 합니다"
        )
    _check_fragment_id(body, entity_id)
    with store.transaction(tenant) as tx:
        entity = _require(tx, entity_id)
        merge_into(entity, body, ctx, now=utc_now())
        tx.replace([entity])
