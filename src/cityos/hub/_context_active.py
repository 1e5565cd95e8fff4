"""The resolved, immutable @context of a request: memoised term expansion and compaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cityos.hub._context_terms import ContextState, TermDefinition, expand_iri

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
_MEMO_LIMIT = 65_536  # distinct names remembered per context before the memo starts over


class ActiveContext:
    """A user @context with the NGSI-LD core context applied last; safe to share."""

    __slots__ = (
        "_compact_memo",
        "_expand_memo",
        "_inverse",
        "_prefixes",
        "_state",
        "key",
        "source",
        "url",
    )

    def __init__(self, state: ContextState, *, source: Any, url: str | None, key: str) -> None:
        self._state = state
        self.source = source  # the user context as given (None: core context only)
        self.url = url  # the one URL naming the whole user context, if there is one
        self.key = key  # canonical JSON of the user context: the resolver's cache key
        self._expand_memo: dict[str, str] = {}
        self._compact_memo: dict[str, str] = {}
        self._inverse: dict[str, str] = _inverse(state.terms)
        self._prefixes: list[tuple[str, str]] = sorted(
            ((name, t.iri) for name, t in state.terms.items() if t.prefix),
            key=lambda p: (len(p[0]), p[0]),
        )

    def __repr__(self) -> str:
        return f"<ActiveContext {self.url or self.key[:80]} ({len(self._state.terms)} terms)>"

    @property
    def vocab(self) -> str | None:
        """Return the vocabulary mapping (``@vocab``) unknown terms expand against."""
        return self._state.vocab

    @property
    def digest(self) -> str:
        """Return a stable hex digest of the user context (to name a hosted copy)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]

    @property
    def terms(self) -> Mapping[str, TermDefinition]:
        """Return every defined term (user and core), read-only."""
        return MappingProxyType(self._state.terms)

    def term_definition(self, term: str) -> TermDefinition | None:
        """Return the definition of ``term``, or None if @vocab or IRI rules apply to it."""
        return self._state.terms.get(term)

    def expand(self, term: str) -> str:
        """Expand an attribute or sub-attribute name to its IRI."""
        try:
            return self._expand_memo[term]
        except KeyError:
            pass
        iri = expand_iri(self._state, term)
        if iri is None:  # "@word" that is no keyword: JSON-LD drops it, NGSI-LD keeps it
            iri = term
        if len(self._expand_memo) >= _MEMO_LIMIT:
            self._expand_memo.clear()
        self._expand_memo[term] = iri
        return iri

    # Entity types and VocabProperty values are vocabulary-relative like attribute names.
    expand_type = expand

    def compact(self, iri: str) -> str:
        """Compact an IRI to the term, @vocab suffix or compact IRI that names it."""
        try:
            return self._compact_memo[iri]
        except KeyError:
            pass
        term = self._compact(iri)
        if len(self._compact_memo) >= _MEMO_LIMIT:
            self._compact_memo.clear()
        self._compact_memo[iri] = term
        return term

    compact_type = compact

    def expand_vocab_value(self, value: Any) -> Any:
        """Expand a VocabProperty ``vocab`` value (a string or a list of strings)."""
        if isinstance(value, str):
            return self.expand(value)
        if isinstance(value, list):
            return [self.expand(v) if isinstance(v, str) else v for v in value]
        return value

    def compact_vocab_value(self, value: Any) -> Any:
        """Compact a VocabProperty ``vocab`` value (a string or a list of strings)."""
        if isinstance(value, str):
            return self.compact(value)
        if isinstance(value, list):
            return [self.compact(v) if isinstance(v, str) else v for v in value]
        return value

    def term_is_json(self, term: str) -> bool:
        """Return whether ``term`` is typed ``@json`` (its value is an opaque JSON literal)."""
        definition = self._state.terms.get(term)
        return definition is not None and definition.type_mapping == "@json"

    def link_value(self, url: str | None = None) -> str:
        """Return a ``Link`` header value naming this context (or ``url``, its hosted copy)."""
        # An inline context has no URL of its own: without a hosted copy (``url``) the best
        # a Link header can name is the core context; the client already knows its terms.
        target = url or self.url or CORE_CONTEXT_URL
        return f'<{target}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'

    def body_value(self) -> Any:
        """Return the ``@context`` member of a response body (shared: do not mutate)."""
        return CORE_CONTEXT_URL if self.source is None else self.source

    def _compact(self, iri: str) -> str:
        term = self._inverse.get(iri)
        if term is not None:
            return term
        vocab = self._state.vocab
        if vocab is not None and iri.startswith(vocab) and len(iri) > len(vocab):
            suffix = iri[len(vocab) :]
            if ":" not in suffix and not suffix.startswith("@") and suffix not in self._state.terms:
                return suffix
        best: str | None = None
        for name, prefix_iri in self._prefixes:
            if not iri.startswith(prefix_iri) or len(iri) == len(prefix_iri):
                continue
            suffix = iri[len(prefix_iri) :]
            if suffix.startswith("//"):
                continue  # "p://…" would read back as an absolute IRI
            candidate = f"{name}:{suffix}"
            clash = self._state.terms.get(candidate)
            if clash is not None and clash.iri != iri:
                continue
            if best is None or (len(candidate), candidate) < (len(best), best):
                best = candidate
        return best if best is not None else iri


def _inverse(terms: dict[str, TermDefinition]) -> dict[str, str]:
    """Map each IRI to its preferred term: user terms first, then shortest, then least."""
    inverse: dict[str, str] = {}
    rank: dict[str, tuple[bool, int, str]] = {}
    for name, definition in terms.items():
        candidate = (definition.core, len(name), name)
        current = rank.get(definition.iri)
        if current is None or candidate < current:
            rank[definition.iri] = candidate
            inverse[definition.iri] = name
    return inverse
