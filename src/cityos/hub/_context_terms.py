"""Term definitions and the JSON-LD context processing subset NGSI-LD needs.

Implements the parts of the JSON-LD 1.1 Processing Algorithms (W3C Recommendation,
2020-07-16) §4.1 Context Processing, §4.2 Create Term Definition and §5.2 IRI Expansion
that decide what a *term* means: simple and expanded term definitions (``@id``, ``@type``,
``@container``, ``@prefix``, ``@protected``), ``@vocab``, compact IRIs, keyword aliases,
``null`` contexts and remote contexts.  Value-level features (``@language``, ``@direction``,
scoped contexts, ``@reverse``, ``@nest``, ``@import``) are validated loosely or ignored; see
``docs/hub/jsonld.md``.  Everything here is pure: remote contexts come through ``load``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEYWORDS = frozenset(
    {
        "@base", "@container", "@context", "@direction", "@graph", "@id", "@import",
        "@included", "@index", "@json", "@language", "@list", "@nest", "@none", "@prefix",
        "@propagate", "@protected", "@reverse", "@set", "@type", "@value", "@version",
        "@vocab",
    }
)  # fmt: skip
CONTAINERS = frozenset({"@list", "@set", "@index", "@language", "@id", "@type", "@graph"})
KEYWORD_TYPES = frozenset({"@id", "@vocab", "@json", "@none"})
_CONTEXT_KEYWORDS = frozenset(
    {"@base", "@direction", "@import", "@language", "@propagate", "@protected", "@version",
     "@vocab"}
)  # fmt: skip
_TERM_KEYS = frozenset(
    {"@id", "@reverse", "@type", "@container", "@context", "@direction", "@index",
     "@language", "@nest", "@prefix", "@protected"}
)  # fmt: skip
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")
_KEYWORD_FORM = re.compile(r"^@[a-zA-Z]+$")
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
MAX_DEPTH = 8  # nested remote @context references, JSON-LD's "context overflow" limit


class ContextError(ValueError):
    """A @context breaks a JSON-LD rule; ``url`` names the remote context at fault, if any.

    ``message`` says what in English, ``message_ko`` in Korean (the hub answers in both).
    """

    def __init__(self, message: str, message_ko: str, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_ko = message_ko
        self.url = url


@dataclass(frozen=True, slots=True)
class TermDefinition:
    """What one term means: its IRI (or keyword) and how its values are typed."""

    iri: str
    type_mapping: str | None = None
    container: frozenset[str] = frozenset()
    prefix: bool = False
    protected: bool = False
    core: bool = False  # defined by the NGSI-LD core context

    def same_meaning(self, other: TermDefinition) -> bool:
        """Return whether both definitions mean the same (ignoring protection and origin)."""
        return (
            self.iri == other.iri
            and self.type_mapping == other.type_mapping
            and self.container == other.container
            and self.prefix == other.prefix
        )


@dataclass(slots=True)
class ContextState:
    """An active context under construction: terms and the vocabulary mapping."""

    terms: dict[str, TermDefinition] = field(default_factory=dict)
    vocab: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessedContext:
    """A self-contained context processed once (the core context), applied as a delta."""

    terms: dict[str, TermDefinition]
    vocab: str | None


# A loader returns a remote context's ``@context`` value, or a ProcessedContext.
Loader = Callable[[str], Any]


def is_absolute_iri(value: str) -> bool:
    """Return whether ``value`` starts with an IRI scheme (``https:``, ``urn:`` …)."""
    return _ABSOLUTE_IRI.match(value) is not None


def expand_iri(
    state: ContextState,
    value: str,
    *,
    local: dict[str, Any] | None = None,
    defined: dict[str, bool] | None = None,
    core: bool = False,
) -> str | None:
    """Expand a vocabulary-relative ``value`` to an IRI (JSON-LD 1.1 API §5.2)."""
    if value in KEYWORDS:
        return value
    if value.startswith("@") and _KEYWORD_FORM.match(value):
        return None
    if local is not None and defined is not None and value in local and not defined.get(value):
        _define_term(state, local, value, defined, core=core)
    term = state.terms.get(value)
    if term is not None:
        return term.iri
    colon = value.find(":", 1)
    if colon > 0:
        prefix, suffix = value[:colon], value[colon + 1 :]
        if prefix == "_" or suffix.startswith("//"):
            return value
        if (
            local is not None
            and defined is not None
            and prefix in local
            and not defined.get(prefix)
        ):
            _define_term(state, local, prefix, defined, core=core)
        prefix_term = state.terms.get(prefix)
        if prefix_term is not None and prefix_term.prefix:
            return prefix_term.iri + suffix
        if is_absolute_iri(value):
            return value
    if state.vocab is not None:
        return state.vocab + value
    return value


def apply_context(
    state: ContextState,
    local: Any,
    load: Loader,
    *,
    stack: tuple[str, ...] = (),
    override_protected: bool = False,
    core: bool = False,
) -> None:
    """Update ``state`` with a local context: an object, a URL, ``null`` or a list of them."""
    for item in local if isinstance(local, list) else [local]:
        if item is None:
            if not override_protected and any(t.protected for t in state.terms.values()):
                raise ContextError(
                    "invalid context nullification: protected terms are active",
                    "컨텍스트를 null로 비울 수 없습니다: 보호된 용어가 있습니다",
                )
            state.terms.clear()
            state.vocab = None
        elif isinstance(item, str):
            _apply_remote(state, item, load, stack, override_protected, core)
        elif isinstance(item, dict):
            _apply_object(state, item, override_protected=override_protected, core=core)
        else:
            raise ContextError(
                f"invalid local context: {type(item).__name__} {item!r:.60}",
                f"잘못된 로컬 컨텍스트: {type(item).__name__} {item!r:.60}",
            )


def _apply_remote(
    state: ContextState,
    url: str,
    load: Loader,
    stack: tuple[str, ...],
    override_protected: bool,
    core: bool,
) -> None:
    if url in stack:
        raise ContextError(
            f"recursive context inclusion: {' -> '.join((*stack, url))}",
            f"컨텍스트가 자기 자신을 다시 포함합니다: {' -> '.join((*stack, url))}",
        )
    if len(stack) >= MAX_DEPTH:
        raise ContextError(
            f"context overflow: more than {MAX_DEPTH} nested remote contexts",
            f"context overflow: 원격 컨텍스트가 {MAX_DEPTH}단계보다 깊게 중첩되어 있습니다",
        )
    loaded = load(url)
    if isinstance(loaded, ProcessedContext):
        apply_processed(state, loaded, override_protected=override_protected)
        return
    try:
        apply_context(
            state,
            loaded,
            load,
            stack=(*stack, url),
            override_protected=override_protected,
            core=core,
        )
    except ContextError as error:
        if error.url is None:
            error.url = url
        raise


def apply_processed(
    state: ContextState, done: ProcessedContext, *, override_protected: bool
) -> None:
    """Apply a context processed once before, as if processing it again."""
    if not override_protected:
        for name, definition in done.terms.items():
            _check_protected(state.terms.get(name), definition, name)
    state.terms.update(done.terms)
    state.vocab = done.vocab


def _check_protected(
    previous: TermDefinition | None, new: TermDefinition | None, name: str
) -> None:
    if previous is None or not previous.protected:
        return
    if new is None or not previous.same_meaning(new):
        raise ContextError(
            f"protected term redefinition: {name!r} is protected",
            f"protected term redefinition: {name!r}은(는) 보호된 용어라 다시 정의할 수 없습니다",
        )


def _apply_object(
    state: ContextState, local: dict[str, Any], *, override_protected: bool, core: bool
) -> None:
    if "@context" in local and len(local) == 1:
        raise ContextError(
            "a @context must not wrap another @context",
            "@context 안에 또 다른 @context를 감쌀 수 없습니다",
        )
    version = local.get("@version")
    if version is not None and version != 1.1:
        raise ContextError(
            f"invalid @version value {version!r}; only 1.1 is supported",
            f"잘못된 @version 값 {version!r}: 1.1만 지원합니다",
        )
    if "@import" in local:
        raise ContextError("@import is not supported", "@import는 지원하지 않습니다")
    if "@vocab" in local:
        vocab = local["@vocab"]
        if vocab is None:
            state.vocab = None
        elif not isinstance(vocab, str):
            raise ContextError(f"invalid vocab mapping {vocab!r}", f"잘못된 vocab 매핑 {vocab!r}")
        else:
            expanded = expand_iri(state, vocab)
            if expanded is None or not (is_absolute_iri(expanded) or expanded.startswith("_:")):
                raise ContextError(
                    f"invalid vocab mapping {vocab!r}: not an absolute IRI",
                    f"잘못된 vocab 매핑 {vocab!r}: 절대 IRI가 아닙니다",
                )
            state.vocab = expanded
    protected = local.get("@protected", False)
    if not isinstance(protected, bool):
        raise ContextError(
            f"invalid @protected value {protected!r}", f"잘못된 @protected 값 {protected!r}"
        )
    defined: dict[str, bool] = {}
    for name in local:
        if name in _CONTEXT_KEYWORDS:
            continue
        _define_term(
            state,
            local,
            name,
            defined,
            default_protected=protected,
            override_protected=override_protected,
            core=core,
        )


def _define_term(
    state: ContextState,
    local: dict[str, Any],
    name: str,
    defined: dict[str, bool],
    *,
    default_protected: bool | None = None,
    override_protected: bool = False,
    core: bool = False,
) -> None:
    """Create the term definition of ``name`` (JSON-LD 1.1 API §4.2, subset)."""
    if defined.get(name):
        return
    if name in defined:
        raise ContextError(
            f"cyclic IRI mapping involving term {name!r}",
            f"용어 {name!r}이(가) 관련된 IRI 매핑이 순환합니다",
        )
    if name == "":
        raise ContextError(
            "invalid term definition: empty term", "잘못된 용어 정의: 용어가 비어 있습니다"
        )
    defined[name] = False
    if default_protected is None:
        default_protected = local.get("@protected", False) is True
    value = local[name]
    if name.startswith("@"):
        defined[name] = True  # keywords and keyword-like terms cannot be redefined: ignored
        return
    previous = state.terms.pop(name, None)
    definition = _build_definition(state, local, name, value, defined, default_protected, core)
    if not override_protected:
        _check_protected(previous, definition, name)
        if previous is not None and previous.protected:
            definition = previous
    if definition is not None:
        state.terms[name] = definition
    defined[name] = True


def _build_definition(
    state: ContextState,
    local: dict[str, Any],
    name: str,
    value: Any,
    defined: dict[str, bool],
    default_protected: bool,
    core: bool,
) -> TermDefinition | None:
    if value is None:
        return None  # a null mapping removes the term; @vocab then applies to it
    simple = isinstance(value, str)
    if simple:
        value = {"@id": value}
    elif not isinstance(value, dict):
        raise ContextError(
            f"invalid term definition for {name!r}: {value!r:.60}",
            f"용어 {name!r}의 정의가 잘못되었습니다: {value!r:.60}",
        )
    unknown = set(value) - _TERM_KEYS
    if unknown:
        raise ContextError(
            f"invalid term definition for {name!r}: unknown keys {sorted(unknown)}",
            f"용어 {name!r}의 정의가 잘못되었습니다: 알 수 없는 키 {sorted(unknown)}",
        )
    if "@reverse" in value:
        return None  # reverse properties have no meaning in NGSI-LD; the term is left undefined
    protected = value.get("@protected", default_protected)
    if not isinstance(protected, bool):
        raise ContextError(
            f"invalid @protected value for term {name!r}",
            f"용어 {name!r}의 @protected 값이 잘못되었습니다",
        )

    def expand(v: str) -> str | None:
        return expand_iri(state, v, local=local, defined=defined, core=core)

    type_mapping = value.get("@type")
    if type_mapping is not None:
        if not isinstance(type_mapping, str):
            raise ContextError(
                f"invalid type mapping for term {name!r}: {type_mapping!r}",
                f"용어 {name!r}의 유형 매핑이 잘못되었습니다: {type_mapping!r}",
            )
        if type_mapping not in KEYWORD_TYPES:
            type_mapping = expand(type_mapping)
            if type_mapping is None or not is_absolute_iri(type_mapping):
                raise ContextError(
                    f"invalid type mapping for term {name!r}: not an IRI",
                    f"용어 {name!r}의 유형 매핑이 잘못되었습니다: IRI가 아닙니다",
                )
    iri: str | None
    if "@id" in value and value["@id"] != name:
        raw = value["@id"]
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise ContextError(
                f"invalid IRI mapping for term {name!r}: {raw!r}",
                f"용어 {name!r}의 IRI 매핑이 잘못되었습니다: {raw!r}",
            )
        iri = expand(raw)
        if iri is None:
            return None  # "@something" that is not a keyword: ignored, as JSON-LD says
        if iri == "@context":
            raise ContextError(
                f"invalid keyword alias: {name!r} aliases @context",
                f"잘못된 키워드 별칭: {name!r}이(가) @context의 별칭입니다",
            )
        if iri not in KEYWORDS and not (is_absolute_iri(iri) or iri.startswith("_:")):
            raise ContextError(
                f"invalid IRI mapping for term {name!r}: {raw!r} is not an IRI",
                f"용어 {name!r}의 IRI 매핑이 잘못되었습니다: {raw!r}은(는) IRI가 아닙니다",
            )
    elif name.find(":", 1) > 0 or "/" in name:
        iri = expand(name)
        if iri is None or not (is_absolute_iri(iri) or iri.startswith("_:")):
            raise ContextError(
                f"invalid IRI mapping for term {name!r}",
                f"용어 {name!r}의 IRI 매핑이 잘못되었습니다",
            )
    elif state.vocab is not None:
        iri = state.vocab + name
    else:
        raise ContextError(
            f"invalid IRI mapping for term {name!r}: no @id and no @vocab",
            f"용어 {name!r}의 IRI 매핑이 잘못되었습니다: @id도 @vocab도 없습니다",
        )
    prefix = simple and ":" not in name and "/" not in name and iri.endswith(_GEN_DELIMS)
    if "@prefix" in value:
        if not isinstance(value["@prefix"], bool) or ":" in name or "/" in name:
            raise ContextError(
                f"invalid @prefix for term {name!r}", f"용어 {name!r}의 @prefix가 잘못되었습니다"
            )
        prefix = value["@prefix"]
    return TermDefinition(
        iri=iri,
        type_mapping=type_mapping,
        container=_container(name, value.get("@container")),
        prefix=prefix,
        protected=protected,
        core=core,
    )


def _container(name: str, raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(c, str) and c in CONTAINERS for c in items):
        raise ContextError(
            f"invalid container mapping for term {name!r}: {raw!r}",
            f"용어 {name!r}의 컨테이너 매핑이 잘못되었습니다: {raw!r}",
        )
    return frozenset(items)
