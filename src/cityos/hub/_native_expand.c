/* cityos.hub._native_expand: a batch entity's expansion and checks in C, for the common shapes.
 *
 * ``expand_entity`` does what ``batch._prepare`` does per entity of a batch create, upsert
 * or update: ``check_entity_id(body["id"])`` then ``model.expand_entity(body, ctx, now=now,
 * cache=cache, id_checked=True)`` (and so ``expand_attributes`` and ``_fast_instance``), for
 * the shapes ``_fast_instance`` takes: a Property with value and optional unitCode and
 * observedAt, a Relationship to one URI, a GeoProperty Point. It returns the same dicts, with
 * the same keys in the same order and the same value objects, and fills the request's caches
 * (ExpandCache: names, types, times) as the Python path does, in the same order.
 *
 * Anything else answers ``NotImplemented`` and the caller runs the Python path, which stays
 * the reference: a non-exact type anywhere it looks (a dict or str subclass), a member the
 * fast path does not know, and every error. Where a check is rare or intricate it calls the
 * Python function (helpers, below) instead of a copy of it: check_attribute_name and
 * ctx.expand for a name not yet in the cache, expand_types for a type not yet in it,
 * check_scope, check_datetime for an observedAt not yet in it, is_uri for an id or object
 * that is not plain ASCII URI text, validate_geojson_geometry for a Point that is not two
 * floats in range. When one of them raises a HubError (the request's fault), the error is
 * dropped and the answer is NotImplemented: the Python path then raises the same error, with
 * the same message, at the same point. Any other exception (MemoryError, a bug) propagates.
 *
 * The dicts it makes are copies of per-request templates kept in the caller's ``shapes``
 * list (see copy_shape), not of anything global: the only C globals are strings interned at
 * module init and never changed after, and constant tables, so the module is safe to use
 * from several threads (each call holds the GIL except inside the Python callbacks; every
 * object held across a callback is owned, not borrowed).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_native_common.h"


static PyObject *s_id, *s_type, *s_value, *s_object, *s_unitCode, *s_observedAt;
static PyObject *s_createdAt, *s_modifiedAt, *s_attrs, *s_scope, *s_coordinates;
static PyObject *s_expand, *s_field, *s_Property, *s_Relationship, *s_GeoProperty, *s_Point;
static PyObject *s_null_uri;
static PyObject *s_core_geo[3];
static PyObject *s_entity_keywords[9];

static const char *const ENTITY_KEYWORDS[9] = {
    "id", "@id", "type", "@type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt",
};
static const char *const CORE_GEO[3] = {
    "https://uri.etsi.org/ngsi-ld/location",
    "https://uri.etsi.org/ngsi-ld/observationSpace",
    "https://uri.etsi.org/ngsi-ld/operationSpace",
};

/* Equality of two exact str objects (the canonical PEP 393 form: equal text, equal kind). */
static inline int
str_eq(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) {
        return 0;
    }
    /* two known hashes that differ: different text (-1 is "not computed yet") */
    Py_hash_t ha = ((PyASCIIObject *)a)->hash, hb = ((PyASCIIObject *)b)->hash;
    if (ha != -1 && hb != -1 && ha != hb) {
        return 0;
    }
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * PyUnicode_KIND(a)) == 0;
}

/* Is ``name`` one of ENTITY_KEYWORDS? One comparison at most, chosen by length. */
static int
is_entity_keyword(PyObject *name)
{
    switch (PyUnicode_GET_LENGTH(name)) {
    case 2: return str_eq(name, s_entity_keywords[0]);  /* id */
    case 3: return str_eq(name, s_entity_keywords[1]);  /* @id */
    case 4: return str_eq(name, s_entity_keywords[2]);  /* type */
    case 5:                                              /* @type, scope */
        return str_eq(name, s_entity_keywords[3]) || str_eq(name, s_entity_keywords[5]);
    case 8: return str_eq(name, s_entity_keywords[4]);  /* @context */
    case 9:                                              /* createdAt, deletedAt */
        return str_eq(name, s_entity_keywords[6]) || str_eq(name, s_entity_keywords[8]);
    case 10: return str_eq(name, s_entity_keywords[7]); /* modifiedAt */
    default: return 0;
    }
}

static int
is_core_geo(PyObject *iri)
{
    for (size_t i = 0; i < sizeof(s_core_geo) / sizeof(s_core_geo[0]); i++) {
        if (str_eq(iri, s_core_geo[i])) {
            return 1;
        }
    }
    return 0;
}

/* A new reference to d[key], or NULL: with an exception set on error, without when absent. */
static inline PyObject *
get_ref(PyObject *d, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(d, key);
    Py_XINCREF(v);
    return v;
}

/* After a helper returned NULL: a HubError is the request's fault, answered by the Python
 * path (DECLINE, the error dropped); anything else propagates (FAIL). */
static int
helper_failed(PyObject *helpers)
{
    if (PyErr_ExceptionMatches(PyTuple_GET_ITEM(helpers, H_HUB_ERROR))) {
        PyErr_Clear();
        return DECLINE;
    }
    return FAIL;
}

/* Call helpers[which](arg); OK with *out (a new reference) set, DECLINE or FAIL. */
static int
call_helper(PyObject *helpers, int which, PyObject *arg, PyObject **out)
{
    PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(helpers, which), arg);
    if (r == NULL) {
        return helper_failed(helpers);
    }
    *out = r;
    return OK;
}

/* Call helpers[which](a, b); OK (result dropped), DECLINE or FAIL. */
static int
check_with(PyObject *helpers, int which, PyObject *a, PyObject *b)
{
    PyObject *args[2] = {a, b};
    PyObject *r = PyObject_Vectorcall(PyTuple_GET_ITEM(helpers, which), args, b ? 2 : 1, NULL);
    if (r == NULL) {
        return helper_failed(helpers);
    }
    Py_DECREF(r);
    return OK;
}

/* model._URI_ASCII for an exact str (uri_ascii_bytes on its ASCII text): 1 when certain,
 * 0 when is_uri decides. */
static int
uri_ascii_sure(PyObject *s)
{
    return PyUnicode_IS_ASCII(s)
           && uri_ascii_bytes(PyUnicode_1BYTE_DATA(s), PyUnicode_GET_LENGTH(s));
}

/* is_uri(s) for an exact str: OK (a URI), DECLINE (not one, or is_uri raised a HubError), FAIL */
static int
check_uri(PyObject *s, PyObject *helpers)
{
    if (uri_ascii_sure(s)) {
        return OK;
    }
    PyObject *r;
    int st = call_helper(helpers, H_IS_URI, s, &r);
    if (st != OK) {
        return st;
    }
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (truth < 0) {
        return FAIL;
    }
    return truth ? OK : DECLINE;
}

/* One call's arguments. */
typedef struct {
    PyObject *now, *ctx, *names, *types, *times, *helpers, *shapes;
} Request;

/* The dicts made per entity are copies of templates with their keys in order (PyDict_Copy
 * of a compact dict copies its table in one go), whose placeholders (None) are then
 * replaced: a third of the work of inserting every key. The templates hold ``now``, so they
 * belong to the request: they live in the caller's ``shapes`` list, which C fills on first
 * use ([now, template or None, ...]) and rebuilds if ``now`` changes. */
enum {
    SHAPE_NOW,
    SHAPE_PROPERTY,          /* type, value, createdAt, modifiedAt */
    SHAPE_PROPERTY_U,        /* type, value, unitCode, createdAt, modifiedAt */
    SHAPE_PROPERTY_O,        /* type, value, observedAt, createdAt, modifiedAt */
    SHAPE_PROPERTY_UO,       /* type, value, unitCode, observedAt, createdAt, modifiedAt */
    SHAPE_RELATIONSHIP,      /* type, object, createdAt, modifiedAt */
    SHAPE_GEOPROPERTY,       /* type, value, createdAt, modifiedAt */
    SHAPE_ENTITY,            /* id, type, createdAt, modifiedAt, attrs */
    SHAPE_ENTITY_SCOPE,      /* id, type, scope, createdAt, modifiedAt, attrs */
    SHAPE_COUNT
};

/* Make ``shapes`` [now, None, ...] unless it already is the list for ``now``; 0 or -1. */
static int
shapes_for(PyObject *shapes, PyObject *now)
{
    if (PyList_GET_SIZE(shapes) == SHAPE_COUNT && PyList_GET_ITEM(shapes, SHAPE_NOW) == now) {
        return 0;
    }
    PyObject *fresh = PyList_New(SHAPE_COUNT);
    if (fresh == NULL) {
        return -1;
    }
    Py_INCREF(now);
    PyList_SET_ITEM(fresh, SHAPE_NOW, now);
    for (Py_ssize_t i = 1; i < SHAPE_COUNT; i++) {
        Py_INCREF(Py_None);
        PyList_SET_ITEM(fresh, i, Py_None);
    }
    int r = PyList_SetSlice(shapes, 0, PY_SSIZE_T_MAX, fresh);
    Py_DECREF(fresh);
    return r;
}

static int
put(PyObject *d, PyObject *key, PyObject *value)
{
    return PyDict_SetItem(d, key, value);
}

/* A new template dict for ``which`` (placeholders None), or NULL. */
static PyObject *
build_shape(int which, PyObject *now)
{
    PyObject *d = PyDict_New(), *none = Py_None;
    if (d == NULL) {
        return NULL;
    }
    int bad = 0;
    switch (which) {
    case SHAPE_PROPERTY:
    case SHAPE_PROPERTY_U:
    case SHAPE_PROPERTY_O:
    case SHAPE_PROPERTY_UO:
        bad = put(d, s_type, s_Property) < 0 || put(d, s_value, none) < 0
              || ((which == SHAPE_PROPERTY_U || which == SHAPE_PROPERTY_UO)
                  && put(d, s_unitCode, none) < 0)
              || ((which == SHAPE_PROPERTY_O || which == SHAPE_PROPERTY_UO)
                  && put(d, s_observedAt, none) < 0);
        break;
    case SHAPE_RELATIONSHIP:
        bad = put(d, s_type, s_Relationship) < 0 || put(d, s_object, none) < 0;
        break;
    case SHAPE_GEOPROPERTY:
        bad = put(d, s_type, s_GeoProperty) < 0 || put(d, s_value, none) < 0;
        break;
    default: /* the entities */
        bad = put(d, s_id, none) < 0 || put(d, s_type, none) < 0
              || (which == SHAPE_ENTITY_SCOPE && put(d, s_scope, none) < 0);
        break;
    }
    if (bad || put(d, s_createdAt, now) < 0 || put(d, s_modifiedAt, now) < 0
        || ((which == SHAPE_ENTITY || which == SHAPE_ENTITY_SCOPE)
            && put(d, s_attrs, none) < 0)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* A new copy of the template ``which``, built on first use; NULL on error. */
static PyObject *
copy_shape(Request *r, int which)
{
    if (PyList_GET_SIZE(r->shapes) != SHAPE_COUNT) { /* a helper's Python code changed it */
        PyErr_SetString(PyExc_TypeError, "the shapes list was changed");
        return NULL;
    }
    PyObject *t = PyList_GET_ITEM(r->shapes, which); /* borrowed */
    if (t == Py_None) {
        t = build_shape(which, r->now);
        if (t == NULL) {
            return NULL;
        }
        PyList_SET_ITEM(r->shapes, which, t); /* steals t; None was borrowed from the list */
        Py_DECREF(Py_None);
    }
    if (!PyDict_CheckExact(t)) {
        PyErr_SetString(PyExc_TypeError, "the shapes list was changed");
        return NULL;
    }
    return PyDict_Copy(t);
}

/* The members of an attribute instance that _fast_instance reads, by name (borrowed from
 * ``raw`` until own_members), and whether it has any other member. */
typedef struct {
    PyObject *type, *value, *object, *unit, *observed;
    int other;
} Members;

/* Sort ``raw``'s members by one pass over it: the five names have five lengths, so one
 * comparison each, where a look-up per name would hash into the table five times. */
static void
scan_members(PyObject *raw, Members *m)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    memset(m, 0, sizeof(*m));
    while (PyDict_Next(raw, &pos, &key, &value)) {
        PyObject **slot = NULL, *name = NULL;
        if (PyUnicode_CheckExact(key)) {
            switch (PyUnicode_GET_LENGTH(key)) {
            case 4: slot = &m->type, name = s_type; break;
            case 5: slot = &m->value, name = s_value; break;
            case 6: slot = &m->object, name = s_object; break;
            case 8: slot = &m->unit, name = s_unitCode; break;
            case 10: slot = &m->observed, name = s_observedAt; break;
            default: break;
            }
        }
        if (slot != NULL && str_eq(key, name)) {
            *slot = value;
        }
        else {
            m->other = 1;
        }
    }
    Py_XINCREF(m->type);
    Py_XINCREF(m->value);
    Py_XINCREF(m->object);
    Py_XINCREF(m->unit);
    Py_XINCREF(m->observed);
}

static void
drop_members(Members *m)
{
    Py_XDECREF(m->type);
    Py_XDECREF(m->value);
    Py_XDECREF(m->object);
    Py_XDECREF(m->unit);
    Py_XDECREF(m->observed);
}

/* Is the GeoJSON Point value valid (validate_geojson_geometry)? The usual two floats in range
 * here, anything else by the Python function. OK, DECLINE or FAIL. */
static int
check_point(PyObject *value, PyObject *helpers)
{
    PyObject *coords = PyDict_GetItemWithError(value, s_coordinates); /* borrowed, not kept */
    if (coords == NULL && PyErr_Occurred()) {
        return FAIL;
    }
    if (coords != NULL && PyList_CheckExact(coords) && PyList_GET_SIZE(coords) == 2) {
        PyObject *lon = PyList_GET_ITEM(coords, 0), *lat = PyList_GET_ITEM(coords, 1);
        if (PyFloat_CheckExact(lon) && PyFloat_CheckExact(lat)) {
            double x = PyFloat_AS_DOUBLE(lon), y = PyFloat_AS_DOUBLE(lat);
            if (-180.0 <= x && x <= 180.0 && -90.0 <= y && y <= 90.0) { /* NaN fails */
                return OK;
            }
        }
    }
    return check_with(helpers, H_VALIDATE_GEOMETRY, value, NULL);
}

/* Check an observedAt as _fast_instance does: known to the request (``times``), or passed by
 * check_datetime and then remembered. OK, DECLINE or FAIL. */
static int
check_observed(PyObject *observed, PyObject *name, Request *r)
{
    if (!PyUnicode_CheckExact(observed)) {
        return DECLINE;
    }
    int seen = PySet_Contains(r->times, observed);
    if (seen != 0) {
        return seen < 0 ? FAIL : OK;
    }
    PyObject *field = PyUnicode_FromFormat("%U.observedAt", name);
    if (field == NULL) {
        return FAIL;
    }
    PyObject *kwnames = PyTuple_Pack(1, s_field);
    if (kwnames == NULL) {
        Py_DECREF(field);
        return FAIL;
    }
    PyObject *args[2] = {observed, field};
    PyObject *res =
        PyObject_Vectorcall(PyTuple_GET_ITEM(r->helpers, H_CHECK_DATETIME), args, 1, kwnames);
    Py_DECREF(kwnames);
    Py_DECREF(field);
    if (res == NULL) {
        return helper_failed(r->helpers);
    }
    Py_DECREF(res);
    return PySet_Add(r->times, observed) < 0 ? FAIL : OK;
}

/* Fill a copy of template ``which`` with up to three members; a new dict or NULL. */
static PyObject *
fill_shape(Request *r, int which, PyObject *member, PyObject *value, PyObject *unit,
           PyObject *observed)
{
    PyObject *d = copy_shape(r, which);
    if (d == NULL) {
        return NULL;
    }
    if (PyDict_SetItem(d, member, value) < 0
        || (unit != NULL && PyDict_SetItem(d, s_unitCode, unit) < 0)
        || (observed != NULL && PyDict_SetItem(d, s_observedAt, observed) < 0)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* _fast_instance(raw, name, iri, now, times) for an exact dict ``raw``: OK with *out (a new
 * reference), DECLINE where it returns None or raises, FAIL. */
static int
fast_instance(PyObject *raw, PyObject *name, PyObject *iri, Request *r, PyObject **out)
{
    Members m;
    int st = DECLINE;
    scan_members(raw, &m); /* owned from here */
    PyObject *kind = m.type;
    if (kind == NULL || !PyUnicode_CheckExact(kind) || m.other) {
        goto done; /* any other member (a sub-attribute, datasetId, ...): the general path */
    }
    if (str_eq(kind, s_Property)) {
        PyObject *value = m.value;
        if (value == NULL || m.object != NULL || value == Py_None) {
            goto done; /* null: an error of the general path */
        }
        if (PyUnicode_Check(value)
            && (!PyUnicode_CheckExact(value) || str_eq(value, s_null_uri))) {
            goto done;
        }
        if (is_core_geo(iri)) {
            goto done;
        }
        if (m.unit != NULL
            && (!PyUnicode_CheckExact(m.unit) || PyUnicode_GET_LENGTH(m.unit) == 0)) {
            goto done;
        }
        if (m.observed != NULL) {
            st = check_observed(m.observed, name, r);
            if (st != OK) {
                goto done;
            }
        }
        /* the key order is the fast path's own (unitCode before observedAt) */
        int which = m.unit == NULL ? (m.observed == NULL ? SHAPE_PROPERTY : SHAPE_PROPERTY_O)
                                   : (m.observed == NULL ? SHAPE_PROPERTY_U : SHAPE_PROPERTY_UO);
        *out = fill_shape(r, which, s_value, value, m.unit, m.observed);
        st = *out == NULL ? FAIL : OK;
        goto done;
    }
    if (m.unit != NULL || m.observed != NULL) {
        goto done; /* a Relationship or GeoProperty with exactly two members */
    }
    if (str_eq(kind, s_Relationship)) {
        PyObject *target = m.object;
        /* location & co. are reserved for GeoProperties: the general path refuses them */
        if (m.value != NULL || target == NULL || is_core_geo(iri)) {
            goto done;
        }
        if (!PyUnicode_CheckExact(target) || str_eq(target, s_null_uri)) {
            goto done;
        }
        st = check_uri(target, r->helpers);
        if (st == OK) {
            *out = fill_shape(r, SHAPE_RELATIONSHIP, s_object, target, NULL, NULL);
            st = *out == NULL ? FAIL : OK;
        }
        goto done;
    }
    if (str_eq(kind, s_GeoProperty)) {
        PyObject *value = m.value;
        if (m.object != NULL || value == NULL || !PyDict_CheckExact(value)) {
            goto done;
        }
        PyObject *gtype = PyDict_GetItemWithError(value, s_type); /* borrowed, not kept */
        if (gtype == NULL) {
            st = PyErr_Occurred() ? FAIL : DECLINE;
            goto done;
        }
        if (!PyUnicode_CheckExact(gtype) || !str_eq(gtype, s_Point)) {
            goto done;
        }
        st = check_point(value, r->helpers);
        if (st == OK) {
            *out = fill_shape(r, SHAPE_GEOPROPERTY, s_value, value, NULL, NULL);
            st = *out == NULL ? FAIL : OK;
        }
        goto done;
    }
done:
    drop_members(&m);
    return st;
}

/* expand_attributes(body, ctx, now=now, cache=cache) when every attribute takes the fast
 * path: OK with *out (a new dict), DECLINE or FAIL. */
static int
expand_attributes(PyObject *body, Request *r, PyObject **out)
{
    PyObject *attrs = PyDict_New();
    if (attrs == NULL) {
        return FAIL;
    }
    Py_ssize_t pos = 0;
    PyObject *name, *raw;
    int st = OK;
    while (st == OK && PyDict_Next(body, &pos, &name, &raw)) {
        PyObject *iri = NULL, *inst = NULL, *list = NULL;
        /* owned while in use: the helpers run Python code */
        Py_INCREF(name);
        Py_INCREF(raw);
        if (!PyUnicode_CheckExact(name)) {
            st = DECLINE;
            goto next;
        }
        if (is_entity_keyword(name)) {
            goto next;
        }
        iri = get_ref(r->names, name);
        if (iri == NULL) {
            if (PyErr_Occurred()) {
                st = FAIL;
                goto next;
            }
            st = check_with(r->helpers, H_CHECK_ATTRIBUTE_NAME, name, NULL);
            if (st != OK) {
                goto next;
            }
            iri = PyObject_CallMethodOneArg(r->ctx, s_expand, name);
            if (iri == NULL) {
                st = helper_failed(r->helpers);
                goto next;
            }
            if (PyDict_SetItem(r->names, name, iri) < 0) {
                st = FAIL;
                goto next;
            }
        }
        if (!PyUnicode_CheckExact(iri) || !PyDict_CheckExact(raw)) {
            st = DECLINE; /* a list of instances, a concise value, ...: the general path */
            goto next;
        }
        st = fast_instance(raw, name, iri, r, &inst);
        if (st != OK) {
            goto next;
        }
        list = PyList_New(1);
        if (list == NULL) {
            Py_DECREF(inst);
            st = FAIL;
            goto next;
        }
        PyList_SET_ITEM(list, 0, inst); /* steals inst */
        if (PyDict_SetItem(attrs, iri, list) < 0) {
            st = FAIL;
        }
    next:
        Py_XDECREF(list);
        Py_XDECREF(iri);
        Py_DECREF(raw);
        Py_DECREF(name);
    }
    if (st != OK) {
        Py_DECREF(attrs);
        return st;
    }
    *out = attrs;
    return OK;
}

/* The entity's expanded types, as expand_entity finds them with a cache: OK with *out (a new
 * list), DECLINE or FAIL. */
static int
entity_types(PyObject *raw_type, Request *r, PyObject **out)
{
    PyObject *list;
    if (PyUnicode_CheckExact(raw_type)) {
        PyObject *iri = PyDict_GetItemWithError(r->types, raw_type); /* borrowed into the list */
        if (iri != NULL) {
            list = PyList_New(1);
            if (list == NULL) {
                return FAIL;
            }
            Py_INCREF(iri);
            PyList_SET_ITEM(list, 0, iri);
            *out = list;
            return OK;
        }
        if (PyErr_Occurred()) {
            return FAIL;
        }
    }
    PyObject *args[2] = {raw_type, r->ctx};
    list = PyObject_Vectorcall(PyTuple_GET_ITEM(r->helpers, H_EXPAND_TYPES), args, 2, NULL);
    if (list == NULL) {
        return helper_failed(r->helpers);
    }
    if (PyUnicode_CheckExact(raw_type)) {
        /* cache.types[raw_type] = types[0], as expand_entity does */
        PyObject *first = PySequence_GetItem(list, 0);
        if (first == NULL || PyDict_SetItem(r->types, raw_type, first) < 0) {
            Py_XDECREF(first);
            Py_DECREF(list);
            return FAIL;
        }
        Py_DECREF(first);
    }
    *out = list;
    return OK;
}

/* The whole entity: OK with *out (a new dict), DECLINE or FAIL. Every object read from
 * ``body`` is owned while a helper may run. The steps run in the order of the Python path,
 * so the caches fill the same way even where the answer is DECLINE. */
static int
entity(PyObject *body, Request *r, PyObject **out)
{
    PyObject *entity_id = NULL, *raw_type = NULL, *type_list = NULL, *result = NULL;
    PyObject *scope = NULL, *scoped = NULL, *attrs = NULL;
    int st;

    /* batch._prepare: check_entity_id(raw.get("id")); a missing id is its error */
    entity_id = get_ref(body, s_id);
    if (entity_id == NULL) {
        return PyErr_Occurred() ? FAIL : DECLINE;
    }
    if (!PyUnicode_CheckExact(entity_id)) {
        st = DECLINE;
        goto done;
    }
    st = check_uri(entity_id, r->helpers);
    if (st != OK) {
        goto done;
    }
    /* expand_entity: "type" (an entity with "@type" only takes the Python path) */
    raw_type = get_ref(body, s_type);
    if (raw_type == NULL) {
        st = PyErr_Occurred() ? FAIL : DECLINE;
        goto done;
    }
    st = entity_types(raw_type, r, &type_list);
    if (st != OK) {
        goto done;
    }
    scope = get_ref(body, s_scope);
    if (scope != NULL) {
        st = call_helper(r->helpers, H_CHECK_SCOPE, scope, &scoped);
        if (st != OK) {
            goto done;
        }
    }
    else if (PyErr_Occurred()) {
        st = FAIL;
        goto done;
    }
    st = expand_attributes(body, r, &attrs);
    if (st != OK) {
        goto done;
    }
    /* {"id", "type", ["scope"], "createdAt", "modifiedAt", "attrs"}, as expand_entity */
    result = copy_shape(r, scoped == NULL ? SHAPE_ENTITY : SHAPE_ENTITY_SCOPE);
    if (result == NULL || PyDict_SetItem(result, s_id, entity_id) < 0
        || PyDict_SetItem(result, s_type, type_list) < 0
        || (scoped != NULL && PyDict_SetItem(result, s_scope, scoped) < 0)
        || PyDict_SetItem(result, s_attrs, attrs) < 0) {
        st = FAIL;
        goto done;
    }
    *out = result;
    result = NULL;
done:
    Py_XDECREF(result);
    Py_XDECREF(attrs);
    Py_XDECREF(scoped);
    Py_XDECREF(scope);
    Py_XDECREF(type_list);
    Py_XDECREF(raw_type);
    Py_DECREF(entity_id);
    return st;
}

PyDoc_STRVAR(expand_entity_doc,
"expand_entity(body, now, ctx, names, types, times, helpers, shapes, /)\n--\n\n"
"Return the entity ``batch._prepare`` makes of ``body`` (check_entity_id, then\n"
"model.expand_entity with the request's ExpandCache and id_checked=True), or\n"
"NotImplemented where the Python path must run: a shape other than the common ones,\n"
"or any error. ``names``, ``types`` and ``times`` are the ExpandCache's, made for ``ctx``;\n"
"``helpers`` is model.NATIVE_HELPERS; ``shapes`` is a list the request keeps for this\n"
"function (empty at first: it holds the request's templates of the dicts it makes).");

static PyObject *
expand_entity(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "expand_entity takes 8 arguments (%zd given)", nargs);
        return NULL;
    }
    Request r = {
        .now = args[1],
        .ctx = args[2],
        .names = args[3],
        .types = args[4],
        .times = args[5],
        .helpers = args[6],
        .shapes = args[7],
    };
    if (!PyDict_CheckExact(r.names) || !PyDict_CheckExact(r.types) || !PySet_CheckExact(r.times)
        || !PyList_CheckExact(r.shapes)) {
        PyErr_SetString(PyExc_TypeError,
                        "names and types must be dicts, times a set, shapes a list");
        return NULL;
    }
    if (!PyTuple_CheckExact(r.helpers) || PyTuple_GET_SIZE(r.helpers) != H_COUNT) {
        PyErr_Format(PyExc_TypeError, "helpers must be a tuple of %d", (int)H_COUNT);
        return NULL;
    }
    PyObject *body = args[0];
    if (!PyDict_CheckExact(body)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (shapes_for(r.shapes, r.now) < 0) {
        return NULL;
    }
    PyObject *out = NULL;
    int st = entity(body, &r, &out);
    if (st == FAIL) {
        return NULL;
    }
    if (st == DECLINE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"expand_entity", (PyCFunction)(void (*)(void))expand_entity, METH_FASTCALL,
     expand_entity_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    "cityos.hub._native_expand",
    "A batch entity's expansion and checks in C for the common shapes (see model.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static int
intern(PyObject **slot, const char *text)
{
    if (*slot == NULL) {
        *slot = PyUnicode_InternFromString(text);
    }
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__native_expand(void)
{
    if (intern(&s_id, "id") < 0 || intern(&s_type, "type") < 0 || intern(&s_value, "value") < 0
        || intern(&s_object, "object") < 0 || intern(&s_unitCode, "unitCode") < 0
        || intern(&s_observedAt, "observedAt") < 0 || intern(&s_createdAt, "createdAt") < 0
        || intern(&s_modifiedAt, "modifiedAt") < 0 || intern(&s_attrs, "attrs") < 0
        || intern(&s_scope, "scope") < 0 || intern(&s_coordinates, "coordinates") < 0
        || intern(&s_expand, "expand") < 0 || intern(&s_field, "field") < 0
        || intern(&s_Property, "Property") < 0 || intern(&s_Relationship, "Relationship") < 0
        || intern(&s_GeoProperty, "GeoProperty") < 0 || intern(&s_Point, "Point") < 0
        || intern(&s_null_uri, "urn:ngsi-ld:null") < 0) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(CORE_GEO) / sizeof(CORE_GEO[0]); i++) {
        if (intern(&s_core_geo[i], CORE_GEO[i]) < 0) {
            return NULL;
        }
    }
    for (size_t i = 0; i < sizeof(ENTITY_KEYWORDS) / sizeof(ENTITY_KEYWORDS[0]); i++) {
        if (intern(&s_entity_keywords[i], ENTITY_KEYWORDS[i]) < 0) {
            return NULL;
        }
    }
    return PyModule_Create(&moduledef);
}
