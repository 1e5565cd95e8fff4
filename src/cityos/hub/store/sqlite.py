"""The embedded SQLite hub store: WAL, JSON text columns; the geo pre-filter is a B-tree
index of Z-order cells for points (``_sqlite_cells``) and an R*Tree for other geometries.

Reads use one connection per thread (request handlers run in a thread pool); every write
uses the one writer connection, serialised by an in-process lock and ``BEGIN IMMEDIATE`` so a
transaction never fails on lock upgrade. SQLite drops a connection's whole page cache when
another connection committed since its last transaction: writers taking turns on their
threads' connections each read again every index page a batch touches, the writer's stays
warm (docs/hub/README.md, "Storage").
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from time import perf_counter
from typing import Any, Literal, TypeVar, cast

import orjson
from shapely.geometry import shape

from cityos.hub._geo_distance import BBox
from cityos.hub._time import utc_now
from cityos.hub.errors import AlreadyExists
from cityos.hub.query.ast import QExpr
from cityos.hub.query.sql import plan_sqlite, register_sqlite_functions
from cityos.hub.store._filter import page_of, residual_filter
from cityos.hub.store._sqlite_cells import point_cell, window_ranges
from cityos.hub.store._sqlite_checkpoint import BACKSTOP_PAGES, WAL_LIMIT_BYTES, Checkpointer
from cityos.hub.store._sqlite_rows import insert_rows
from cityos.hub.store.base import (
    BUSY,
    AttributeInfo,
    Busy,
    Entity,
    EntityQuery,
    HubStore,
    PreparedInsert,
    QueryPage,
    Transaction,
    TypeInfo,
    attribute_kinds,
    geometries,
)

T = TypeVar("T")

_COLUMNS = "e.pk, e.id, e.types, e.scopes, e.created_at, e.modified_at, e.attrs"
_CHUNK = 500  # stay under SQLite's bound-parameter limit
# Page cache per connection [KiB]: up to ~6 readers (the loop, 4 store threads, jobs) and the
# writer. A page not cached is read from the OS page cache (WAL file or database). 32 MiB for
# the writer held ~15 MB more at 100,000 entities for no faster batches (session 14).
READER_CACHE_KIB = 16_384
WRITER_CACHE_KIB = 16_384

# sqlite3 binds int, float, str and bytearray parameters as they are and sends any other
# (None too) through its adapter protocol, whose failed look-ups raise and format an
# AttributeError each time. A registered adapter is found first: None stays None (NULL), at
# about a third of the cost; a history row binds two NULLs in three. Process-wide, and the
# same for every other sqlite3 user: NULL either way. ``{}.get(None)`` is None, in C.
_NULL: Callable[[None], None] = cast(Callable[[None], None], {}.get)
sqlite3.register_adapter(type(None), _NULL)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: Any) -> bool:
    """Implement SQL ``value REGEXP pattern`` with Python's re (search semantics)."""
    if pattern is None or not isinstance(value, str):
        return False
    return _regex(pattern).search(value) is not None


def _row_entity(row: tuple[Any, ...]) -> Entity:
    entity: Entity = {"id": row[1], "type": orjson.loads(row[2])}
    if row[3] is not None:
        entity["scope"] = orjson.loads(row[3])
    entity["createdAt"] = row[4]
    entity["modifiedAt"] = row[5]
    entity["attrs"] = orjson.loads(row[6])
    return entity


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """Return (min lon, min lat, max lon, max lat) of a GeoJSON geometry (already valid)."""
    if geometry["type"] == "Point":
        lon, lat = geometry["coordinates"][:2]
        return lon, lat, lon, lat
    if geometry["type"] == "GeometryCollection":
        boxes = [_bounds(g) for g in geometry["geometries"]]
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    return tuple(shape(geometry).bounds)


@dataclass(slots=True)
class _SideRows:
    """What an entity contributes to the side tables, to skip rewrites that change nothing.

    Never changed once made (not ``frozen``: that makes each construction three times
    dearer, and a batch insert makes one per entity).
    """

    types: tuple[str, ...]
    geo: tuple[tuple[str, str], ...]  # (attribute, GeoJSON text)

    @classmethod
    def of(cls, entity: Entity) -> _SideRows:
        return cls(
            tuple(entity["type"]),
            tuple((attr, orjson.dumps(value).decode()) for attr, value in geometries(entity)),
        )


def _same_slots(old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]) -> bool:
    """Return True when both hold one geometry for each of the same attributes, in order."""
    names = [attr for attr, _ in new]
    return [attr for attr, _ in old] == names and len(set(names)) == len(names)


def _pairs_and_geometries(
    attrs: dict[str, list[dict[str, Any]]],
) -> tuple[list[tuple[str, str]], list[tuple[str, dict[str, Any]]]]:
    """Return (attribute, kind of its first instance) as attribute sets hold them, and (attribute,
    GeoJSON geometry) of every GeoProperty instance as ``geometries`` returns them."""
    pairs = []
    found = []
    for iri, instances in attrs.items():
        if instances:
            first_instance = instances[0]
            kind = first_instance["type"]
            pairs.append((iri, kind))
            if kind == "GeoProperty":
                found.append((iri, first_instance["value"]))
            if len(instances) > 1:
                for inst in instances[1:]:
                    if inst.get("type") == "GeoProperty":
                        found.append((iri, inst["value"]))
    return pairs, found


# (cell, longitude, latitude, box) of a geometry: see _placement
_Placement = tuple["int | None", "float | None", "float | None", "tuple[float, ...] | None"]


def _placement(geometry: dict[str, Any]) -> _Placement:
    """Return where a geometry (GeoJSON, already valid) is indexed: a point's cell,
    longitude and latitude for the cell index (``_sqlite_cells``) and no box; any other
    geometry no cell and its (min lon, max lon, min lat, max lat) box for the R*Tree."""
    if geometry["type"] == "Point":
        lon, lat = geometry["coordinates"][:2]
        return point_cell(lon, lat), lon, lat, None
    min_lon, min_lat, max_lon, max_lat = _bounds(geometry)
    return None, None, None, (min_lon, max_lon, min_lat, max_lat)


# What an entity's insert writes that needs neither the database nor the writers' lock (no
# key, no attribute-set id): the entity itself, its attributes' JSON (bytes, and as text),
# its types' JSON, its scopes' JSON or None, its (attribute, kind) pairs in order (the key
# of its attribute set), its side rows, and where each of their geometries is indexed.
_Prepared = tuple[
    Entity,
    bytes,
    str,
    str,
    "str | None",
    tuple[tuple[str, str], ...],
    _SideRows,
    tuple[_Placement, ...],
]


class _RowMaker:
    """Makes the ``_Prepared`` row of each entity to insert, in order: an entity with the
    attribute names and kinds of the one before it (one instance each) reuses its pairs and
    geometry attributes (two list comparisons instead of a loop over its attributes), and a
    type list's JSON is made once."""

    __slots__ = ("_last", "_types")

    def __init__(self) -> None:
        self._last: tuple[list[str | None], list[str], tuple[tuple[str, str], ...], list[str]]
        self._last = ([], [], (), [])
        self._types: dict[tuple[str, ...], str] = {}

    def __call__(self, entity: Entity) -> _Prepared:
        attrs = entity["attrs"]
        kinds = [i[0]["type"] if len(i) == 1 else None for i in attrs.values()]
        names = list(attrs)
        last = self._last
        if kinds == last[0] and names == last[1]:
            pairs = last[2]
            found = [(attr, attrs[attr][0]["value"]) for attr in last[3]]
        else:
            listed, found = _pairs_and_geometries(attrs)
            pairs = tuple(listed)
            if None not in kinds:  # one instance per attribute: a plan for the next
                self._last = (kinds, names, pairs, [attr for attr, _ in found])
        dumps = orjson.dumps
        geo = tuple((attr, dumps(value).decode()) for attr, value in found)
        where = tuple(_placement(value) for _, value in found)
        types = tuple(entity["type"])
        types_text = self._types.get(types)
        if types_text is None:
            types_text = self._types[types] = dumps(entity["type"]).decode()
        text = dumps(attrs)
        return (
            entity,
            text,
            text.decode(),
            types_text,
            dumps(entity["scope"]).decode() if "scope" in entity else None,
            pairs,
            _SideRows(types, geo),
            where,
        )


def _window_clause(window: BBox, attr: str) -> tuple[str, list[Any]]:
    """Return the clause (and its parameters) keeping entities with a geometry of ``attr``
    whose box meets ``window``: points from the cell index (_sqlite_cells: ranges of cells,
    then their exact longitude and latitude), other geometries from the R*Tree."""
    min_lon, min_lat, max_lon, max_lat = window
    ranges = window_ranges(min_lon, min_lat, max_lon, max_lat)
    # padded to a power of two with empty ranges: a few statement texts, all cached
    slots = 1 << max(0, len(ranges) - 1).bit_length()
    values: list[Any] = [bound for pair in ranges for bound in pair]
    values.extend((1, 0) * (slots - len(ranges)))
    values.extend((min_lon, max_lon, min_lat, max_lat, attr))
    values.extend((min_lon, max_lon, min_lat, max_lat, attr))
    clause = (
        "e.pk IN (SELECT g.entity_pk FROM (VALUES "
        + ", ".join(["(?, ?)"] * slots)
        + ") c JOIN hub_geo g ON g.cell BETWEEN c.column1 AND c.column2 "
        "WHERE g.lon BETWEEN ? AND ? AND g.lat BETWEEN ? AND ? AND g.attr = ? "
        "UNION ALL SELECT g.entity_pk FROM hub_geo_rtree r JOIN hub_geo g ON g.pk = r.pk "
        "WHERE r.max_lon >= ? AND r.min_lon <= ? AND r.max_lat >= ? AND r.min_lat <= ? "
        "AND g.attr = ?)"
    )
    return clause, values


class _SQLiteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection, tenant: str, store: SQLiteStore) -> None:
        self.conn = conn
        self.tenant = tenant
        self.store = store
        self.new_sets: dict[str, int] = {}  # attribute sets made here; cached after COMMIT
        self.pks: dict[str, int] = {}
        self.side: dict[str, _SideRows] = {}  # side rows of entities as loaded
        self._tenant_known = False
        self._track()

    @property
    def backend(self) -> str:
        return "sqlite"

    @property
    def connection(self) -> sqlite3.Connection:
        return self.conn

    def _rows_of(self, ids: list[str]) -> Iterator[tuple[Any, ...]]:
        """Yield the entity rows (``_COLUMNS``) of this tenant among ``ids``."""
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT {_COLUMNS} FROM hub_entities e WHERE e.tenant = ? AND e.id IN ({marks})",
                [self.tenant, *chunk],
            )

    def get_many(self, ids: list[str]) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        for row in self._rows_of(ids):
            entity = _row_entity(row)
            self.pks[row[1]] = row[0]
            self.side[row[1]] = _SideRows.of(entity)
            self._loaded(entity)
            found[row[1]] = entity
        return found

    def peek_many(self, ids: list[str]) -> dict[str, Entity]:
        return {row[1]: _row_entity(row) for row in self._rows_of(ids)}

    def _ensure_tenant(self) -> None:
        if not self._tenant_known:
            self.conn.execute(
                "INSERT OR IGNORE INTO hub_tenants (name, created_at) VALUES (?, ?)",
                (self.tenant, utc_now()),
            )
            self._tenant_known = True

    def _attr_set(self, pairs: Collection[tuple[str, str]]) -> int:
        """Return the id of the attribute set of an entity's (attribute, kind of its first
        instance) ``pairs``, storing a new set if needed."""
        signature = orjson.dumps(sorted(pairs)).decode()
        known = self.new_sets.get(signature) or self.store.attr_set_id(self.tenant, signature)
        if known is not None:
            return known
        cur = self.conn.execute(
            "INSERT INTO hub_attr_sets (tenant, signature) VALUES (?, ?)", (self.tenant, signature)
        )
        assert cur.lastrowid is not None
        self.new_sets[signature] = cur.lastrowid
        return cur.lastrowid

    def _next_pk(self, table: str) -> int:
        # Safe: BEGIN IMMEDIATE makes this the only writer until COMMIT.
        row = self.conn.execute(f"SELECT coalesce(max(pk), 0) FROM {table}").fetchone()
        return int(row[0]) + 1

    def _write_side_tables(
        self,
        rows: list[tuple[int, _SideRows]],
        *,
        which: set[str],
        placed: list[_Placement] | None = None,
    ) -> None:
        """Insert the type and geometry rows of ``rows``.

        ``placed``: where each ``side.geo`` entry is indexed (``_placement``), in order, when
        the caller has it already (else each GeoJSON text is parsed again to find it).
        """
        if "types" in which:
            insert_rows(
                self.conn,
                "INSERT INTO hub_entity_types (tenant, type, entity_pk)",
                [(self.tenant, t, pk) for pk, side in rows for t in side.types],
            )
        geo = [(pk, attr, text) for pk, side in rows for attr, text in side.geo]
        if "geo" in which and geo:
            first = self._next_pk("hub_geo")
            if placed is None:
                placed = [_placement(orjson.loads(text)) for _, _, text in geo]
            # A point goes into the cell index (its row's cell, lon, lat: _sqlite_cells),
            # any other geometry into the R*Tree, by its box.
            found = []
            boxes = []
            for (pk, (entity_pk, attr, text)), (cell, lon, lat, box) in zip(
                enumerate(geo, first), placed, strict=True
            ):
                found.append((pk, entity_pk, attr, text, cell, lon, lat))
                if box is not None:
                    boxes.append((pk, *box))
            insert_rows(
                self.conn,
                "INSERT INTO hub_geo (pk, entity_pk, attr, geojson, cell, lon, lat)",
                found,
            )
            insert_rows(
                self.conn,
                "INSERT INTO hub_geo_rtree (pk, min_lon, max_lon, min_lat, max_lat)",
                boxes,
            )

    def _delete_side_tables(self, pks: list[int], *, which: set[str]) -> None:
        tables = {"types": "hub_entity_types", "geo": "hub_geo"}
        for chunk in _chunks(pks):
            marks = ",".join("?" * len(chunk))
            for key in which:
                self.conn.execute(f"DELETE FROM {tables[key]} WHERE entity_pk IN ({marks})", chunk)

    def insert(self, entities: list[Entity], prepared: PreparedInsert | None = None) -> None:
        self._ensure_tenant()
        first = self._next_pk("hub_entities")
        made: dict[str, _Prepared] = prepared.rows if prepared is not None else {}
        if prepared is not None:  # the lane's: entities without "attrs"
            self.prepared.update(prepared.listeners)
            self.unparsed = True
        maker: _RowMaker | None = None  # for entities that were not prepared
        rows = []
        side: list[tuple[int, _SideRows]] = []
        placed: list[_Placement] = []
        set_ids: dict[tuple[tuple[str, str], ...], int] = {}  # by (attribute, kind) pairs
        last_pairs: tuple[tuple[str, str], ...] | None = None
        set_id = 0
        pks, tenant, after, texts = self.pks, self.tenant, self._after, self.attrs_json
        for pk, entity in enumerate(entities, first):
            entity_id = entity["id"]
            row = made.get(entity_id)
            if row is None or row[0] is not entity:
                if maker is None:
                    maker = _RowMaker()
                row = maker(entity)
            _, text, text_str, types_text, scope_text, pairs, side_rows, where = row
            pks[entity_id] = pk
            after[entity_id] = entity  # self._wrote(entity)
            texts[entity_id] = text
            if pairs is not last_pairs:  # entities of one shape share the pairs' tuple
                found = set_ids.get(pairs)
                if found is None:
                    found = set_ids[pairs] = self._attr_set(pairs)
                set_id, last_pairs = found, pairs
            rows.append(
                (
                    pk,
                    tenant,
                    entity_id,
                    types_text,
                    scope_text,
                    entity["createdAt"],
                    entity["modifiedAt"],
                    text_str,
                    set_id,
                )
            )
            side.append((pk, side_rows))
            placed.extend(where)
        try:
            insert_rows(
                self.conn,
                "INSERT INTO hub_entities (pk, tenant, id, types, scopes, created_at, "
                "modified_at, attrs, attr_set)",
                rows,
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(
                f"an entity among {[e['id'] for e in entities][:5]} already exists"
                f" / {[e['id'] for e in entities][:5]} 중 이미 있는 엔터티가 있습니다"
            ) from exc
        self._write_side_tables(side, which={"types", "geo"}, placed=placed)
        for entity, (_, rows_of) in zip(entities, side, strict=True):
            self.side[entity["id"]] = rows_of

    def replace(self, entities: list[Entity], *, changed: Collection[str] | None = None) -> None:
        # ``changed`` is not used: SQLite rewrites the row's JSON text whole either way
        missing = [e["id"] for e in entities if e["id"] not in self.pks]
        if missing:
            self.get_many(missing)
        texts = self.attrs_json
        updates = []
        for e in entities:
            texts[e["id"]] = text = orjson.dumps(e["attrs"])
            updates.append(
                (
                    orjson.dumps(e["type"]).decode(),
                    orjson.dumps(e["scope"]).decode() if "scope" in e else None,
                    e["modifiedAt"],
                    text.decode(),
                    self._attr_set(attribute_kinds(e).items()),
                    self.pks[e["id"]],
                )
            )
        self.conn.executemany(
            "UPDATE hub_entities SET types = ?, scopes = ?, modified_at = ?, attrs = ?, "
            "attr_set = ? WHERE pk = ?",
            updates,
        )
        # Rewrite only the side rows that changed: a sensor update usually changes none, and
        # a vehicle that moved keeps its geometry rows, which are updated in place.
        rewrite: dict[str, list[tuple[int, _SideRows]]] = {"types": [], "geo": []}
        moved: list[tuple[int, str, str, str]] = []  # (entity pk, attribute, new, old GeoJSON)
        for entity in entities:
            self._wrote(entity)
            old = self.side.get(entity["id"])
            new = _SideRows.of(entity)
            pk = self.pks[entity["id"]]
            if old is None or old.types != new.types:
                rewrite["types"].append((pk, new))
            if old is None or old.geo != new.geo:
                if old is not None and _same_slots(old.geo, new.geo):
                    moved.extend(
                        (pk, attr, text, before)
                        for (attr, text), (_, before) in zip(new.geo, old.geo, strict=True)
                        if text != before
                    )
                else:
                    rewrite["geo"].append((pk, new))
            self.side[entity["id"]] = new
        for key, rows in rewrite.items():
            if rows:
                self._delete_side_tables([pk for pk, _ in rows], which={key})
                self._write_side_tables(rows, which={key})
        if moved:
            self._move(moved)

    def _move(self, moved: list[tuple[int, str, str, str]]) -> None:
        """Update geometries in place: (entity pk, attribute, new GeoJSON, old GeoJSON)."""
        points = []  # (GeoJSON, cell, lon, lat, entity pk, attribute) of new points
        others = []  # (GeoJSON, entity pk, attribute) of new other geometries
        unboxed = []  # (entity pk, attribute) of points that were other geometries
        boxed: list[tuple[Any, ...]] = []  # (box, entity pk, attribute): other geometries
        new_boxes: list[tuple[Any, ...]] = []  # the same, that were points (no R*Tree row)
        for pk, attr, text, before in moved:
            cell, lon, lat, box = _placement(orjson.loads(text))
            was_point = orjson.loads(before)["type"] == "Point"
            if box is None:
                points.append((text, cell, lon, lat, pk, attr))
                if not was_point:
                    unboxed.append((pk, attr))
            else:
                others.append((text, pk, attr))
                (new_boxes if was_point else boxed).append((*box, pk, attr))
        pk_of = "(SELECT pk FROM hub_geo WHERE entity_pk = ? AND attr = ?)"
        conn = self.conn
        if points:
            conn.executemany(
                "UPDATE hub_geo SET geojson = ?, cell = ?, lon = ?, lat = ? "
                "WHERE entity_pk = ? AND attr = ?",
                points,
            )
        if unboxed:
            conn.executemany(f"DELETE FROM hub_geo_rtree WHERE pk = {pk_of}", unboxed)
        if others:
            conn.executemany(
                "UPDATE hub_geo SET geojson = ?, cell = NULL, lon = NULL, lat = NULL "
                "WHERE entity_pk = ? AND attr = ?",
                others,
            )
        if boxed:
            conn.executemany(
                "UPDATE hub_geo_rtree SET min_lon = ?, max_lon = ?, min_lat = ?, max_lat = ? "
                f"WHERE pk = {pk_of}",
                boxed,
            )
        if new_boxes:
            conn.executemany(
                "INSERT INTO hub_geo_rtree (min_lon, max_lon, min_lat, max_lat, pk) "
                f"VALUES (?, ?, ?, ?, {pk_of})",
                new_boxes,
            )

    def delete(self, ids: list[str]) -> None:
        missing = [i for i in ids if i not in self.pks]
        if missing:
            self.get_many(missing)
        pks = [self.pks.pop(i) for i in ids if i in self.pks]
        for entity_id in ids:
            self._removed(entity_id)
        self._delete_side_tables(pks, which={"types", "geo"})
        for chunk in _chunks(pks):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"DELETE FROM hub_entities WHERE pk IN ({marks})", chunk)


class SQLiteStore(HubStore):
    """The hub on one SQLite file (WAL mode)."""

    backend = "sqlite"
    inline_short_calls = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._tenants: set[str] = set()  # tenants known to exist (they are never deleted)
        # (tenant, signature) -> id and id -> [(attribute, kind)] of committed attribute sets
        self._set_ids: dict[tuple[str, str], int] = {}
        self._set_pairs: dict[int, list[tuple[str, str]]] = {}
        self.listeners = []
        self.checkpointer = Checkpointer(path, lock=self._write_lock)
        self._writer: sqlite3.Connection | None = None
        # The writers' lock, for /metrics (observability.StoreCollector): transactions, and
        # seconds waited for the lock and held with it (held / elapsed = its utilisation;
        # near 1, SQLite's one writer is the limit). Updated holding the lock.
        self.write_transactions = 0
        self.lock_waited = 0.0
        self.lock_held = 0.0

    def _open(self, cache_kib: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # WAL checkpoints run in the store's checkpoint thread, outside the writers'
        # lock (store/_sqlite_checkpoint.py); a writer checkpoints only as a backstop
        conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        conn.create_function("REGEXP", 2, _regexp, deterministic=True)
        register_sqlite_functions(conn)
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        """Return this thread's connection: the writers' one inside a transaction (so a
        read there sees the transaction's own writes), else the thread's reading one."""
        conn: sqlite3.Connection | None = getattr(self._local, "tx", None) or getattr(
            self._local, "conn", None
        )
        if conn is None:
            conn = self._local.conn = self._open(READER_CACHE_KIB)
        return conn

    def _writer_conn(self) -> sqlite3.Connection:
        """Return the one connection every write uses; hold the writers' lock."""
        if self._writer is None:
            self._writer = self._open(WRITER_CACHE_KIB)
        return self._writer

    def close(self) -> None:
        # The store's threads first: a call still running there (a subscription delivery
        # the dispatcher's bounded stop gave up waiting for) would otherwise step a
        # statement on a connection closed under it, which can crash the process
        # (seen once in a test app's shutdown). SQLite calls end within busy_timeout.
        self.shutdown_executor()
        self.checkpointer.stop()
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self._writer = None

    async def call_on_loop(self, call: Callable[[], T]) -> T | Literal[Busy.BUSY]:
        """Run a one-entity write inline on the event loop (its few hundred microseconds cost
        less than a thread hop), unless another writer holds the write lock: a batch in a
        store thread holds it for tens of milliseconds, the roll-up fold for up to ~0.1 s a
        chunk, and waiting for it on the loop would stop every other request meanwhile
        (BUSY: the caller waits in a thread instead). A writer that takes the lock between
        this check and the call's ``transaction`` makes the loop wait, as before: rare."""
        if self._write_lock.locked():
            return BUSY
        return call()

    @contextmanager
    def transaction(self, tenant: str) -> Iterator[Transaction]:
        began = perf_counter()
        with self._write_lock:
            got = perf_counter()
            conn = self._local.tx = self._writer_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                tx = _SQLiteTransaction(conn, tenant, self)
                try:
                    yield tx
                    self._before_commit(tx)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                self.checkpointer.wanted()
                for signature, set_id in tx.new_sets.items():
                    self._remember_set(tenant, signature, set_id)
                self._after_commit(tx)
            finally:
                self._local.tx = None
                self.write_transactions += 1
                self.lock_waited += got - began
                self.lock_held += perf_counter() - got
        self.tenant_exists(tenant)  # refresh the cache once the tenant row is committed

    def any_exists(self, tenant: str, ids: list[str]) -> bool:
        """Return True when one of ``ids`` exists (read without the writers' lock: the
        object-free lane's test that a batch is new, before it makes its rows' objects)."""
        conn = self._conn()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            found = conn.execute(
                f"SELECT 1 FROM hub_entities WHERE tenant = ? AND id IN ({marks}) LIMIT 1",
                [tenant, *chunk],
            ).fetchone()
            if found is not None:
                return True
        return False

    def prepare_lane(
        self, tenant: str, found: tuple[list[tuple[Any, ...]], list[Any]], now: str
    ) -> tuple[PreparedInsert, list[Entity]] | None:
        """Return the insert of the object-free lane's rows (``_native_lane.entity_rows``,
        which found none of them existing: ``any_exists``) prepared, and their entities
        (without "attrs": ``Transaction.parse_unparsed``), or None when an id repeats (the
        caller runs the Python path)."""
        rows, shapes = found
        ids = [row[0] for row in rows]
        if len(set(ids)) != len(ids):
            return None
        made: dict[str, _Prepared] = {}
        entities: list[Entity] = []
        changes: list[tuple[Entity, bytes, Any, int, int, Any]] = []
        type_texts: dict[str, str] = {}
        for entity_id, type_iri, text, shape_at, geo, where, blob, lo, hi in rows:
            entity = {"id": entity_id, "type": [type_iri], "createdAt": now, "modifiedAt": now}
            types_text = type_texts.get(type_iri)
            if types_text is None:
                types_text = type_texts[type_iri] = orjson.dumps([type_iri]).decode()
            pairs, names = shapes[shape_at]
            made[entity_id] = (
                entity,
                text,
                text.decode(),
                types_text,
                None,
                pairs,
                _SideRows((type_iri,), geo),
                where,
            )
            entities.append(entity)
            if blob is not None:
                changes.append((entity, text, blob, lo, hi, names))
        prepared = PreparedInsert(made)
        for listener in self.listeners:
            hook = getattr(listener, "prepare_lane", None)
            if hook is not None:
                prepared.listeners[listener] = hook(changes)
        return prepared, entities

    def _remember_set(self, tenant: str, signature: str, set_id: int) -> None:
        self._set_ids[(tenant, signature)] = set_id
        self._set_pairs[set_id] = [(a, k) for a, k in orjson.loads(signature)]

    def attr_set_id(self, tenant: str, signature: str) -> int | None:
        """Return the id of a committed attribute set, or None if it was never stored."""
        found = self._set_ids.get((tenant, signature))
        if found is None:
            row = (
                self._conn()
                .execute(
                    "SELECT id FROM hub_attr_sets WHERE tenant = ? AND signature = ?",
                    (tenant, signature),
                )
                .fetchone()
            )
            if row is not None:
                found = int(row[0])
                self._remember_set(tenant, signature, found)
        return found

    def attr_sets(self, tenant: str) -> dict[int, list[tuple[str, str]]]:
        """Return every attribute set of ``tenant``: id -> [(attribute IRI, kind)]."""
        rows = self._conn().execute(
            "SELECT id, signature FROM hub_attr_sets WHERE tenant = ?", (tenant,)
        )
        sets = {}
        for set_id, signature in rows:
            if set_id not in self._set_pairs:
                self._remember_set(tenant, signature, set_id)
            sets[set_id] = self._set_pairs[set_id]
        return sets

    def _sets_with(self, tenant: str, attrs: tuple[str, ...]) -> list[int]:
        """Return the ids of attribute sets holding any of ``attrs``."""
        wanted = set(attrs)
        return [
            set_id
            for set_id, pairs in self.attr_sets(tenant).items()
            if any(a in wanted for a, _ in pairs)
        ]

    def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        row = self._conn().execute("SELECT 1 FROM hub_tenants WHERE name = ?", (tenant,))
        if row.fetchone() is None:
            return False
        self._tenants.add(tenant)
        return True

    def get(self, tenant: str, entity_id: str) -> Entity | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM hub_entities e WHERE e.tenant = ? AND e.id = ?",
                (tenant, entity_id),
            )
            .fetchone()
        )
        return _row_entity(row) if row else None

    def _where(self, tenant: str, query: EntityQuery) -> tuple[str, list[Any], QExpr | None, bool]:
        """Return the WHERE clause, its parameters, the q left to Python, and if geo is done.

        SQLite has no statistics to choose which index drives a query, so this picks it: the
        R*Tree window when there is one, else the listed ids, else the type index, else the
        tenant. The other conditions are written with unary ``+`` so SQLite tests them per
        row instead of starting from them (SQLite query optimizer overview, section
        "Disqualifying WHERE clause terms using unary-+").
        """
        window = query.geo.search_window() if query.geo is not None else None
        driver = (
            "geo"
            if window is not None
            else "ids"
            if query.ids is not None
            else "types"
            if query.types is not None
            else "tenant"
        )
        lead = {key: "" if key == driver else "+" for key in ("geo", "ids", "types", "tenant")}
        if driver == "ids":
            lead["tenant"] = ""  # the (tenant, id) index needs both
        clauses = [f"{lead['tenant']}e.tenant = ?"]
        params: list[Any] = [tenant]
        if query.ids is not None:
            clauses.append(f"{lead['ids']}e.id IN ({','.join('?' * len(query.ids))})")
            params.extend(query.ids)
        if query.id_pattern is not None:
            clauses.append("e.id REGEXP ?")
            params.append(query.id_pattern)
        if query.types is not None:
            alternatives = []
            for group in query.types.groups:
                parts = []
                for type_iri in sorted(group):
                    if driver == "types":
                        parts.append(
                            "e.pk IN (SELECT entity_pk FROM hub_entity_types "
                            "WHERE tenant = ? AND type = ?)"
                        )
                    else:  # a per-row primary-key probe, not a list of every entity of the type
                        parts.append(
                            "EXISTS (SELECT 1 FROM hub_entity_types t WHERE t.tenant = ? "
                            "AND t.type = ? AND t.entity_pk = e.pk)"
                        )
                    params.extend((tenant, type_iri))
                alternatives.append("(" + " AND ".join(parts) + ")")
            clauses.append("(" + " OR ".join(alternatives) + ")")
        if query.attrs:
            sets = self._sets_with(tenant, query.attrs)
            clauses.append(f"+e.attr_set IN ({','.join('?' * len(sets))})" if sets else "0")
            params.extend(sets)
        if query.geo is not None:
            if window is not None:
                clause, values = _window_clause(window, query.geo.geoproperty)
                clauses.append(clause)
                params.extend(values)
            else:
                sets = self._sets_with(tenant, (query.geo.geoproperty,))
                clauses.append(f"+e.attr_set IN ({','.join('?' * len(sets))})" if sets else "0")
                params.extend(sets)
        q_residual = None
        if query.q is not None and driver == "geo":
            # The R*Tree already bounds the candidates; the compiled Python predicate on a
            # few hundred rows beats SQLite's json_each scans (measured: 2.7 ms vs 4 ms).
            q_residual = query.q
        elif query.q is not None:  # last: the JSON scans are the costliest per-row test
            plan = plan_sqlite(query.q)
            clauses.append(plan.sql)
            params.extend(plan.params)
            q_residual = plan.residual
        return " AND ".join(clauses), params, q_residual, False

    def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        where, params, q_residual, geo_in_sql = self._where(tenant, query)
        keep = residual_filter(query, q_residual=q_residual, geo_in_sql=geo_in_sql)
        conn = self._conn()
        sql = f"SELECT {_COLUMNS} FROM hub_entities e WHERE {where} ORDER BY e.pk"
        if keep is None:
            rows = conn.execute(sql + " LIMIT ? OFFSET ?", [*params, query.limit, query.offset])
            page = QueryPage([_row_entity(r) for r in rows])
            if query.count:
                total = conn.execute(f"SELECT count(*) FROM hub_entities e WHERE {where}", params)
                page.total = total.fetchone()[0]
            return page
        return page_of(map(_row_entity, conn.execute(sql, params)), keep, query)

    def iter_all(self, tenant: str, query: EntityQuery) -> Iterator[Entity]:
        where, params, q_residual, geo_in_sql = self._where(tenant, query)
        keep = residual_filter(query, q_residual=q_residual, geo_in_sql=geo_in_sql)
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM hub_entities e WHERE {where} ORDER BY e.pk", params
        )
        for row in rows:
            entity = _row_entity(row)
            if keep is None or keep(entity):
                yield entity

    def entity_count(self, tenant: str) -> int:
        row = self._conn().execute("SELECT count(*) FROM hub_entities WHERE tenant = ?", (tenant,))
        return int(row.fetchone()[0])

    def type_infos(self, tenant: str, types: list[str] | None = None) -> list[TypeInfo]:
        sql = (
            "SELECT t.type, e.attr_set, count(*) FROM hub_entity_types t "
            "JOIN hub_entities e ON e.pk = t.entity_pk WHERE t.tenant = ?"
        )
        params: list[Any] = [tenant]
        if types is not None:
            sql += f" AND t.type IN ({','.join('?' * len(types))})"
            params.extend(types)
        rows = self._conn().execute(sql + " GROUP BY t.type, e.attr_set", params).fetchall()
        sets = self.attr_sets(tenant)
        counts: dict[str, int] = {}
        attrs: dict[str, dict[str, set[str]]] = {}
        for type_iri, set_id, count in rows:
            counts[type_iri] = counts.get(type_iri, 0) + count
            for attr, kind in sets.get(set_id, []):
                attrs.setdefault(type_iri, {}).setdefault(attr, set()).add(kind)
        return [TypeInfo(t, counts[t], attrs.get(t, {})) for t in sorted(counts)]

    def attribute_infos(self, tenant: str, attrs: list[str] | None = None) -> list[AttributeInfo]:
        conn = self._conn()
        rows = conn.execute(
            "SELECT t.type, e.attr_set, count(*) FROM hub_entity_types t "
            "JOIN hub_entities e ON e.pk = t.entity_pk WHERE t.tenant = ? "
            "GROUP BY t.type, e.attr_set",
            (tenant,),
        ).fetchall()
        per_set = dict(
            conn.execute(
                "SELECT attr_set, count(*) FROM hub_entities WHERE tenant = ? GROUP BY attr_set",
                (tenant,),
            ).fetchall()
        )
        sets = self.attr_sets(tenant)
        counts: dict[str, int] = {}
        kinds: dict[str, set[str]] = {}
        types: dict[str, set[str]] = {}
        for set_id, count in per_set.items():
            for attr, kind in sets.get(set_id, []):
                counts[attr] = counts.get(attr, 0) + count
                kinds.setdefault(attr, set()).add(kind)
        for type_iri, set_id, _ in rows:
            for attr, _kind in sets.get(set_id, []):
                types.setdefault(attr, set()).add(type_iri)
        wanted = sorted(counts) if attrs is None else [a for a in attrs if a in counts]
        return [AttributeInfo(a, counts[a], kinds[a], types.get(a, set())) for a in wanted]

    def contexts(self, tenant: str | None = None) -> list[dict[str, Any]]:
        where = "" if tenant is None else "WHERE tenant IS NULL OR tenant = ? "
        rows = self._conn().execute(
            "SELECT id, url, kind, body, created_at, last_used_at, hits, tenant "
            f"FROM hub_contexts {where}ORDER BY created_at",
            () if tenant is None else (tenant,),
        )
        return [
            {
                "id": r[0],
                "url": r[1],
                "kind": r[2],
                "body": orjson.loads(r[3]),
                "createdAt": r[4],
                "lastUsage": r[5],
                "numberOfHits": r[6],
                "tenant": r[7],
            }
            for r in rows
        ]

    def put_context(self, record: dict[str, Any]) -> None:
        with self._write_lock:
            conn = self._writer_conn()
            try:
                conn.execute(
                    "INSERT INTO hub_contexts (id, url, kind, body, created_at, tenant) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record["id"],
                        record["url"],
                        record["kind"],
                        orjson.dumps(record["body"]).decode(),
                        record["createdAt"],
                        record.get("tenant"),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(
                    f"a @context with url {record['url']} is already stored"
                    f" / url이 {record['url']}인 @context가 이미 저장되어 있습니다"
                ) from exc

    def delete_context(self, context_id: str) -> bool:
        with self._write_lock:
            conn = self._writer_conn()
            cur = conn.execute("DELETE FROM hub_contexts WHERE id = ?", (context_id,))
        return cur.rowcount > 0

    def count_context_hits(self, hits: Mapping[str, tuple[int, str]]) -> None:
        with self._write_lock:
            self._writer_conn().executemany(
                "UPDATE hub_contexts SET hits = hits + ?, last_used_at = ? WHERE url = ?",
                [(count, last, url) for url, (count, last) in hits.items()],
            )
