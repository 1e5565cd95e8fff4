/*
 * cityos.hub._native_history: the change-row elements of one entity change in C.
 *
 * elements() does what cityos.hub.temporal.record._elements does, for the shape every
 * write has (a dict of attributes, each a list of instance dicts), and answers
 * NotImplemented for anything else (a non-dict, a list subclass, ...), so the Python
 * function, which stays the reference, takes it. The results are the same objects the
 * Python function makes: the same tuples, the same body copies in the same key order, the
 * same ints and floats; tests/hub/temporal/test_native_history.py checks that on generated
 * entities. Exceptions raised by the callback (text_micros) or by float() of a huge int
 * propagate as they would from Python.
 *
 * The GIL is held throughout: the work is on Python objects. No C state is kept between
 * calls except the interned key strings made at import.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *s_modified_at;  /* "modifiedAt" */
static PyObject *s_created_at;   /* "createdAt" */
static PyObject *s_observed_at;  /* "observedAt" */
static PyObject *s_type;         /* "type" */
static PyObject *s_value;        /* "value" */
static PyObject *s_dataset_id;   /* "datasetId" */
static PyObject *s_property;     /* "Property" */
static PyObject *s_empty;        /* "" */
static PyObject *no_time;        /* 1 << 62: above every element time */
static PyObject *no_time_neg;    /* -(1 << 62) */
static PyObject *minus_one;      /* -1 */

/* Remove key from d when present; 0 on success, -1 with an exception set. */
static int
discard(PyObject *d, PyObject *key)
{
    if (PyDict_DelItem(d, key) == 0) {
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* Replace *slot by value (a new reference is taken) when cmp(value, *slot) holds. */
static int
keep_if(PyObject **slot, PyObject *value, int op)
{
    int better = PyObject_RichCompareBool(value, *slot, op);
    if (better < 0) {
        return -1;
    }
    if (better) {
        Py_INCREF(value);
        Py_SETREF(*slot, value);
    }
    return 0;
}

/*
 * The element of one instance (a 9-tuple), or NULL with an exception set. *ts_out gets a
 * borrowed reference to the element's time (owned by the tuple), *stamped is set when that
 * time is the stamp.
 */
static PyObject *
element(PyObject *attr, PyObject *inst, PyObject *stamp_us, PyObject *seen,
        PyObject *text_micros, PyObject **ts_out, int *stamped, int *dataset_set)
{
    PyObject *ts = NULL, *observed_us = NULL, *kind = NULL, *num = NULL, *body = NULL;
    PyObject *dataset = NULL, *result = NULL;

    PyObject *observed = PyDict_GetItemWithError(inst, s_observed_at);  /* borrowed */
    if (observed == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (observed != NULL && PyUnicode_CheckExact(observed)) {
        ts = PyDict_GetItemWithError(seen, observed);  /* borrowed */
        if (ts != NULL) {
            Py_INCREF(ts);
        }
        else {
            if (PyErr_Occurred()) {
                return NULL;
            }
            ts = PyObject_CallOneArg(text_micros, observed);
            if (ts == NULL) {
                return NULL;
            }
            if (PyDict_SetItem(seen, observed, ts) < 0) {
                goto done;
            }
        }
        observed_us = Py_NewRef(ts);
    }
    else {
        ts = Py_NewRef(stamp_us);
        observed_us = Py_NewRef(Py_None);
        *stamped = 1;
    }

    kind = PyDict_GetItemWithError(inst, s_type);
    if (kind == NULL) {
        if (PyErr_Occurred()) {
            goto done;
        }
        kind = s_property;
    }
    Py_INCREF(kind);

    int is_property = PyObject_RichCompareBool(kind, s_property, Py_EQ);
    if (is_property < 0) {
        goto done;
    }
    if (is_property) {
        PyObject *value = PyDict_GetItemWithError(inst, s_value);
        if (value == NULL && PyErr_Occurred()) {
            goto done;
        }
        if (value != NULL && PyFloat_CheckExact(value)) {
            num = Py_NewRef(value);
        }
        else if (value != NULL && PyLong_CheckExact(value)) {
            num = PyNumber_Float(value);  /* OverflowError for a huge int, as float() */
            if (num == NULL) {
                goto done;
            }
        }
    }
    if (num == NULL) {
        num = Py_NewRef(Py_None);
    }

    body = PyDict_Copy(inst);
    if (body == NULL || discard(body, s_created_at) < 0 || discard(body, s_modified_at) < 0) {
        goto done;
    }

    PyObject *given = PyDict_GetItemWithError(inst, s_dataset_id);
    if (given == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (given != NULL) {
        int truthy = PyObject_IsTrue(given);
        if (truthy < 0) {
            goto done;
        }
        if (truthy) {
            dataset = Py_NewRef(given);
            *dataset_set = 1;
        }
    }
    if (dataset == NULL) {
        dataset = Py_NewRef(s_empty);
    }

    result = PyTuple_New(9);
    if (result == NULL) {
        goto done;
    }
    *ts_out = ts;  /* borrowed from the tuple */
    PyTuple_SET_ITEM(result, 0, Py_NewRef(attr));
    PyTuple_SET_ITEM(result, 1, dataset);
    PyTuple_SET_ITEM(result, 2, kind);
    PyTuple_SET_ITEM(result, 3, ts);
    PyTuple_SET_ITEM(result, 4, observed_us);
    PyTuple_SET_ITEM(result, 5, Py_NewRef(stamp_us));
    PyTuple_SET_ITEM(result, 6, Py_NewRef(stamp_us));
    PyTuple_SET_ITEM(result, 7, num);
    PyTuple_SET_ITEM(result, 8, body);
    return result;  /* the tuple owns every reference taken above */

done:
    Py_XDECREF(ts);
    Py_XDECREF(observed_us);
    Py_XDECREF(kind);
    Py_XDECREF(num);
    Py_XDECREF(body);
    Py_XDECREF(dataset);
    return NULL;
}

/*
 * One instance: append its element to items when it belongs to the change. Returns 0 (done
 * or skipped), 1 (another modifiedAt in a new entity: the whole answer is None) or -1 (an
 * exception is set).
 */
static int
one(PyObject *attr, PyObject *inst, PyObject *stamp, PyObject *stamp_us, int created,
    PyObject *seen, PyObject *text_micros, PyObject *items, PyObject **lo, PyObject **hi,
    int *plain, int *stamped)
{
    PyObject *modified = PyDict_GetItemWithError(inst, s_modified_at);
    if (modified == NULL && PyErr_Occurred()) {
        return -1;
    }
    /* ``modified != stamp`` with a missing modifiedAt read as None */
    int differs = PyObject_RichCompareBool(modified == NULL ? Py_None : modified, stamp, Py_NE);
    if (differs < 0) {
        return -1;
    }
    if (differs) {
        if (!created) {
            return 0;
        }
        int truthy = modified == NULL ? 0 : PyObject_IsTrue(modified);
        if (truthy != 0) {
            return truthy;  /* 1, or -1 */
        }
    }
    PyObject *ts = NULL;
    int dataset_set = 0, local_stamped = 0;
    PyObject *el = element(attr, inst, stamp_us, seen, text_micros, &ts, &local_stamped,
                           &dataset_set);
    if (el == NULL) {
        return -1;
    }
    if (dataset_set) {
        *plain = 0;
    }
    if (local_stamped) {
        *stamped = 1;
    }
    else if (keep_if(lo, ts, Py_LT) < 0 || keep_if(hi, ts, Py_GT) < 0) {
        Py_DECREF(el);
        return -1;
    }
    int appended = PyList_Append(items, el);
    Py_DECREF(el);
    return appended;
}

/*
 * elements(attrs, stamp, stamp_us, created, seen, text_micros)
 *   -> (items, plain, lo, hi) | None | NotImplemented
 */
static PyObject *
elements(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "elements() takes 6 arguments");
        return NULL;
    }
    PyObject *attrs = args[0], *stamp = args[1], *stamp_us = args[2];
    PyObject *seen = args[4], *text_micros = args[5];
    int created = PyObject_IsTrue(args[3]);
    if (created < 0) {
        return NULL;
    }
    if (!PyDict_CheckExact(attrs) || !PyDict_CheckExact(seen) || !PyLong_CheckExact(stamp_us)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *items = PyList_New(0);
    PyObject *lo = Py_NewRef(no_time), *hi = Py_NewRef(no_time_neg);
    PyObject *result = NULL;
    int plain = created, stamped = 0;
    if (items == NULL) {
        goto fail;
    }
    Py_ssize_t pos = 0;
    PyObject *attr, *instances;
    while (PyDict_Next(attrs, &pos, &attr, &instances)) {
        /* anything but a list of exact dicts: the Python path (what was done is dropped) */
        if (!PyList_CheckExact(instances)) {
            goto not_implemented;
        }
        if (PyList_GET_SIZE(instances) == 0) {
            plain = 0;
        }
        /* held while the callback (text_micros) runs */
        Py_INCREF(attr);
        Py_INCREF(instances);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(instances); i++) {
            PyObject *inst = PyList_GET_ITEM(instances, i);
            if (!PyDict_CheckExact(inst)) {
                Py_DECREF(attr);
                Py_DECREF(instances);
                goto not_implemented;
            }
            Py_INCREF(inst);
            int outcome = one(attr, inst, stamp, stamp_us, created, seen, text_micros, items,
                              &lo, &hi, &plain, &stamped);
            Py_DECREF(inst);
            if (outcome != 0) {
                Py_DECREF(attr);
                Py_DECREF(instances);
                if (outcome < 0) {
                    goto fail;
                }
                Py_DECREF(items);
                Py_DECREF(lo);
                Py_DECREF(hi);
                Py_RETURN_NONE;  /* another modifiedAt in a new entity: not one change */
            }
        }
        Py_DECREF(attr);
        Py_DECREF(instances);
    }
    if (PyList_GET_SIZE(items) == 0) {
        Py_SETREF(lo, Py_NewRef(minus_one));
        Py_SETREF(hi, Py_NewRef(minus_one));
    }
    else if (stamped) {
        /* min(lo, stamp_us) and max(hi, stamp_us): the first of equals is kept */
        if (keep_if(&lo, stamp_us, Py_LT) < 0 || keep_if(&hi, stamp_us, Py_GT) < 0) {
            goto fail;
        }
    }
    result = PyTuple_New(4);
    if (result == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(result, 0, items);
    PyTuple_SET_ITEM(result, 1, PyBool_FromLong(plain));
    PyTuple_SET_ITEM(result, 2, lo);
    PyTuple_SET_ITEM(result, 3, hi);
    return result;

fail:
    Py_XDECREF(items);
    Py_XDECREF(lo);
    Py_XDECREF(hi);
    return NULL;

not_implemented:
    Py_DECREF(items);
    Py_DECREF(lo);
    Py_DECREF(hi);
    Py_RETURN_NOTIMPLEMENTED;
}


/* ---------------------------------------------------------------------------------------
 * change_json(): the same change row as JSON text, spliced from the entity row's JSON.
 *
 * The SQLite writer already has each written entity's attributes as JSON (orjson.dumps of
 * the attrs dict, for the entity row). A change row's elements hold the same instances
 * without createdAt and modifiedAt, so instead of building element tuples and body copies
 * and serialising them again, this walks the attrs dict (for what each element says:
 * times, kind, number, datasetId, with exactly the rules of elements()) and the JSON text
 * in step (for the bytes: the attribute name, the kind, the number, the body with the two
 * members cut out), and writes the change row's JSON array. It answers NotImplemented
 * whenever the text and the dict do not line up member for member, or for a shape it
 * leaves to the Python path (an escaped member name, an int of 1e16 or more, a new entity
 * with a datasetId or an attribute without instances, a member-rich instance).
 * ------------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} Out;

/* Make room for ``more`` bytes; 0, or -1 with MemoryError set. */
static int
out_reserve(Out *o, Py_ssize_t more)
{
    if (o->len + more <= o->cap) {
        return 0;
    }
    Py_ssize_t cap = o->cap * 2 > o->len + more ? o->cap * 2 : o->len + more + 1024;
    char *grown = PyMem_Realloc(o->buf, (size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->buf = grown;
    o->cap = cap;
    return 0;
}

/* Copy n bytes into room already reserved. */
static inline void
put(Out *o, const char *s, Py_ssize_t n)
{
    memcpy(o->buf + o->len, s, (size_t)n);
    o->len += n;
}

#define NUM_MAX 24 /* the longest decimal long long, with a sign */

/* Write v in decimal into buf (NUM_MAX bytes); return its length. */
static Py_ssize_t
decimal(char *buf, long long v)
{
    char tmp[NUM_MAX];
    char *end = tmp + sizeof tmp, *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *--p = '-';
    }
    memcpy(buf, p, (size_t)(end - p));
    return end - p;
}

/* Skip the string starting at s[*pos] == '"'. memchr finds each candidate closing quote
 * (vectorised in libc: the text is mostly long strings, IRIs and times); a quote after an
 * odd run of backslashes is escaped. Escapes need no other care here: a member name with
 * one never equals the raw UTF-8 it is compared with (an attribute name) nor a plain
 * ASCII name (createdAt, type, ...), so such a text goes to the Python path or is copied
 * as it is. */
static int
skip_string(const char *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos + 1;
    while (i < n) {
        const char *quote = memchr(s + i, '"', (size_t)(n - i));
        if (quote == NULL) {
            return -1;
        }
        Py_ssize_t q = quote - s, back = 0;
        while (q - back - 1 >= i && s[q - back - 1] == '\\') {
            back++;
        }
        if (back % 2 == 0) {
            *pos = q + 1;
            return 0;
        }
        i = q + 1;
    }
    return -1;
}

/* Skip one JSON value (compact text, as orjson writes it) starting at s[*pos]. */
static int
skip_value(const char *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos;
    if (i >= n) {
        return -1;
    }
    if (s[i] == '"') {
        return skip_string(s, n, pos);
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                if (skip_string(s, n, &i) < 0) {
                    return -1;
                }
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            }
            else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    *pos = i + 1;
                    return 0;
                }
            }
            i++;
        }
        return -1;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']') {
        i++;
    }
    *pos = i;
    return 0;
}

static int
key_is(const char *s, Py_ssize_t start, Py_ssize_t end, const char *name, Py_ssize_t len)
{
    /* start..end spans the quoted key */
    return end - start == len + 2 && memcmp(s + start + 1, name, (size_t)len) == 0;
}

#define MAX_MEMBERS 32

/* One instance object's members in the JSON text: where each kept member lies (the body
 * without createdAt and modifiedAt) and the spans of the members the element needs. */
typedef struct {
    Py_ssize_t kept_start[MAX_MEMBERS], kept_end[MAX_MEMBERS];
    int kept;
    Py_ssize_t type_s, type_e, value_s, value_e, dataset_s, dataset_e;
} Members;

/* Read the instance object at s[*pos]; 0, or 1 when it is not a shape handled here. */
static int
read_members(const char *s, Py_ssize_t n, Py_ssize_t *pos, Members *m)
{
    Py_ssize_t i = *pos;
    m->kept = 0;
    m->type_s = m->value_s = m->dataset_s = -1;
    m->type_e = m->value_e = m->dataset_e = -1;
    if (i >= n || s[i] != '{') {
        return 1;
    }
    i++;
    if (i < n && s[i] == '}') {
        *pos = i + 1;
        return 0;
    }
    for (;;) {
        Py_ssize_t ks = i;
        if (i >= n || s[i] != '"' || skip_string(s, n, &i) < 0) {
            return 1;
        }
        Py_ssize_t ke = i;
        if (i >= n || s[i] != ':') {
            return 1;
        }
        i++;
        Py_ssize_t vs = i;
        if (skip_value(s, n, &i) < 0) {
            return 1;
        }
        Py_ssize_t ve = i;
        if (key_is(s, ks, ke, "createdAt", 9) || key_is(s, ks, ke, "modifiedAt", 10)) {
            /* cut out of the body */
        }
        else {
            if (m->kept == MAX_MEMBERS) {
                return 1;
            }
            m->kept_start[m->kept] = ks;
            m->kept_end[m->kept] = ve;
            m->kept++;
            if (key_is(s, ks, ke, "type", 4)) {
                m->type_s = vs;
                m->type_e = ve;
            }
            else if (key_is(s, ks, ke, "value", 5)) {
                m->value_s = vs;
                m->value_e = ve;
            }
            else if (key_is(s, ks, ke, "datasetId", 9)) {
                m->dataset_s = vs;
                m->dataset_e = ve;
            }

        }
        if (i >= n) {
            return 1;
        }
        if (s[i] == '}') {
            *pos = i + 1;
            return 0;
        }
        if (s[i] != ',') {
            return 1;
        }
        i++;
    }
}


/* The members of an instance dict that an element needs, in one pass over it (five look-ups
 * of keys that are often missing cost more): borrowed references, NULL when missing. */
typedef struct {
    PyObject *modified, *observed, *kind, *value, *dataset;
} Fields;

static void
read_fields(PyObject *inst, Fields *f)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    f->modified = f->observed = f->kind = f->value = f->dataset = NULL;
    while (PyDict_Next(inst, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_COMPACT_ASCII(key)) {
            continue;  /* none of the five */
        }
        const char *k = (const char *)PyUnicode_1BYTE_DATA(key);
        switch (PyUnicode_GET_LENGTH(key)) {
        case 4:
            if (memcmp(k, "type", 4) == 0) {
                f->kind = value;
            }
            break;
        case 5:
            if (memcmp(k, "value", 5) == 0) {
                f->value = value;
            }
            break;
        case 9:
            if (memcmp(k, "datasetId", 9) == 0) {
                f->dataset = value;
            }
            break;
        case 10:
            if (memcmp(k, "modifiedAt", 10) == 0) {
                f->modified = value;
            }
            else if (memcmp(k, "observedAt", 10) == 0) {
                f->observed = value;
            }
            break;
        default:
            break;
        }
    }
}

/* The time [µs] of an instance's observedAt (through the cache ``seen``), as elements()
 * finds it; 0, or -1 with an exception set. *has is 0 when the element's time is the stamp. */
static int
observed_time(PyObject *observed, PyObject *seen, PyObject *text_micros, long long *out,
              int *has)
{
    *has = 0;
    if (observed == NULL) {
        return 0;
    }
    if (!PyUnicode_CheckExact(observed)) {
        return 0;
    }
    PyObject *ts = PyDict_GetItemWithError(seen, observed);  /* borrowed */
    if (ts != NULL) {
        Py_INCREF(ts);
    }
    else {
        if (PyErr_Occurred()) {
            return -1;
        }
        Py_INCREF(observed);
        ts = PyObject_CallOneArg(text_micros, observed);
        if (ts == NULL || PyDict_SetItem(seen, observed, ts) < 0) {
            Py_DECREF(observed);
            Py_XDECREF(ts);
            return -1;
        }
        Py_DECREF(observed);
    }
    *out = PyLong_AsLongLong(ts);
    Py_DECREF(ts);
    if (*out == -1 && PyErr_Occurred()) {
        return -1;
    }
    *has = 1;
    return 0;
}

/*
 * change_json(attrs, attrs_json, stamp, stamp_us, created, seen, text_micros)
 *   -> (bytearray, plain, lo, hi, pairs) | None | NotImplemented
 *
 * The change row (the JSON of what elements() returns as items), whether the pairs are
 * plain, the earliest and latest times, and (not ``created``) the list of (attribute,
 * datasetId) pairs of the elements (None when ``created``). None when elements() answers
 * None (another modifiedAt in a new entity); NotImplemented for no elements at all, and
 * for every shape left to the Python path.
 */
static PyObject *
change_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "change_json() takes 7 arguments");
        return NULL;
    }
    PyObject *attrs = args[0], *raw = args[1], *stamp = args[2], *stamp_obj = args[3];
    PyObject *seen = args[5], *text_micros = args[6];
    int created = PyObject_IsTrue(args[4]);
    if (created < 0) {
        return NULL;
    }
    if (!PyDict_CheckExact(attrs) || !PyBytes_CheckExact(raw) || !PyDict_CheckExact(seen)
        || !PyLong_CheckExact(stamp_obj)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    long long stamp_us = PyLong_AsLongLong(stamp_obj);
    if (stamp_us == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    Out out = {NULL, 0, 0};
    PyObject *pairs = NULL, *result = NULL, *held_attr = NULL, *held_instances = NULL;
    long long lo = 1LL << 62, hi = -(1LL << 62);
    int plain = created, stamped = 0, count = 0;
    Members m;
    char num_text[32];

    if (!created && (pairs = PyList_New(0)) == NULL) {
        return NULL;
    }
    char stamp_text[NUM_MAX], last_text[NUM_MAX];
    Py_ssize_t stamp_len = decimal(stamp_text, stamp_us), last_len = 0;
    long long last_ts = 0;
    last_text[0] = '\0';
    if (out_reserve(&out, n + n / 2 + 64) < 0) {
        goto fail;
    }
    put(&out, "[", 1);
    Py_ssize_t pos = 0;
    if (n < 2 || s[0] != '{') {
        goto not_implemented;
    }
    pos = 1;
    Py_ssize_t dpos = 0;
    PyObject *attr, *instances;
    int first_member = 1;
    while (PyDict_Next(attrs, &dpos, &attr, &instances)) {
        if (!PyList_CheckExact(instances) || !PyUnicode_CheckExact(attr)) {
            goto not_implemented;
        }
        /* held while the callback (text_micros) runs */
        held_attr = Py_NewRef(attr);
        held_instances = Py_NewRef(instances);
        if (!first_member) {
            if (pos >= n || s[pos] != ',') {
                goto not_implemented;
            }
            pos++;
        }
        first_member = 0;
        /* the member's name, checked against the dict's key */
        Py_ssize_t ks = pos;
        if (pos >= n || s[pos] != '"' || skip_string(s, n, &pos) < 0) {
            goto not_implemented;
        }
        Py_ssize_t ke = pos, name_len;
        const char *name = PyUnicode_AsUTF8AndSize(attr, &name_len);
        if (name == NULL) {
            goto fail;
        }
        if (ke - ks != name_len + 2 || memcmp(s + ks + 1, name, (size_t)name_len) != 0) {
            goto not_implemented;
        }
        if (pos + 1 >= n || s[pos] != ':' || s[pos + 1] != '[') {
            goto not_implemented;
        }
        pos += 2;
        Py_ssize_t size = PyList_GET_SIZE(instances);
        if (size == 0) {
            if (created) {
                goto not_implemented;  /* not plain: the Python path makes the pairs */
            }
        }
        for (Py_ssize_t i = 0; i < size; i++) {
            PyObject *inst = PyList_GET_ITEM(instances, i);
            if (!PyDict_CheckExact(inst)) {
                goto not_implemented;
            }
            if (i > 0) {
                if (pos >= n || s[pos] != ',') {
                    goto not_implemented;
                }
                pos++;
            }
            if (read_members(s, n, &pos, &m) != 0) {
                goto not_implemented;
            }
            /* the rules of one() and element(), on the dict */
            Fields f;
            read_fields(inst, &f);
            PyObject *modified = f.modified;
            int differs = PyObject_RichCompareBool(modified == NULL ? Py_None : modified,
                                                   stamp, Py_NE);
            if (differs < 0) {
                goto fail;
            }
            if (differs) {
                if (!created) {
                    continue;
                }
                int truthy = modified == NULL ? 0 : PyObject_IsTrue(modified);
                if (truthy < 0) {
                    goto fail;
                }
                if (truthy) {
                    PyMem_Free(out.buf);
                    Py_XDECREF(pairs);
                    Py_XDECREF(held_attr);
                    Py_XDECREF(held_instances);
                    Py_RETURN_NONE;  /* another modifiedAt in a new entity */
                }
            }
            Py_INCREF(inst);  /* held while text_micros runs */
            long long ts;
            int has_observed;
            int failed = observed_time(f.observed, seen, text_micros, &ts, &has_observed);
            if (failed < 0) {
                Py_DECREF(inst);
                goto fail;
            }
            if (!has_observed) {
                ts = stamp_us;
                stamped = 1;
            }
            else {
                if (ts < lo) {
                    lo = ts;
                }
                if (ts > hi) {
                    hi = ts;
                }
            }
            PyObject *kind = f.kind;
            int is_property = 1;
            if (kind != NULL) {
                is_property = PyObject_RichCompareBool(kind, s_property, Py_EQ);
                if (is_property < 0) {
                    Py_DECREF(inst);
                    goto fail;
                }
                if (m.type_s < 0) {
                    Py_DECREF(inst);
                    goto not_implemented;
                }
            }
            const char *num = "null";
            Py_ssize_t num_len = 4;
            if (is_property) {
                PyObject *value = f.value;
                if (value != NULL && PyFloat_CheckExact(value)) {
                    /* orjson wrote this float in the entity's JSON: the same text */
                    if (m.value_s < 0 || s[m.value_s] == 'n') {
                        Py_DECREF(inst);
                        goto not_implemented;
                    }
                    num = s + m.value_s;
                    num_len = m.value_e - m.value_s;
                }
                else if (value != NULL && PyLong_CheckExact(value)) {
                    int overflow = 0;
                    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
                    if (v == -1 && PyErr_Occurred()) {
                        Py_DECREF(inst);
                        goto fail;
                    }
                    /* float(v) as orjson writes it: "v.0" below 1e16 (then "1e+16") */
                    if (overflow || v >= 10000000000000000LL || v <= -10000000000000000LL) {
                        Py_DECREF(inst);
                        goto not_implemented;
                    }
                    num_len = decimal(num_text, v);
                    memcpy(num_text + num_len, ".0", 2);
                    num_len += 2;
                    num = num_text;
                }
            }
            PyObject *given = f.dataset;
            int dataset_set = 0;
            if (given != NULL) {
                dataset_set = PyObject_IsTrue(given);
                if (dataset_set < 0) {
                    Py_DECREF(inst);
                    goto fail;
                }
            }
            if (dataset_set) {
                plain = 0;
                if (created || m.dataset_s < 0) {
                    Py_DECREF(inst);
                    goto not_implemented;
                }
            }
            if (pairs != NULL) {
                PyObject *pair = PyTuple_Pack(2, attr, dataset_set ? given : s_empty);
                if (pair == NULL || PyList_Append(pairs, pair) < 0) {
                    Py_XDECREF(pair);
                    Py_DECREF(inst);
                    goto fail;
                }
                Py_DECREF(pair);
            }
            Py_DECREF(inst);
            /* [attr, dataset, kind, ts, observed, stamp, stamp, num, body]: room for it
             * all at once (the body is at most the instance's text), then plain copies */
            Py_ssize_t dataset_len = dataset_set ? m.dataset_e - m.dataset_s : 2;
            Py_ssize_t kind_len = kind != NULL ? m.type_e - m.type_s : 10;
            Py_ssize_t body_len = 2 + m.kept;
            for (int k = 0; k < m.kept; k++) {
                body_len += m.kept_end[k] - m.kept_start[k];
            }
            if (out_reserve(&out, (ke - ks) + dataset_len + kind_len + 4 * NUM_MAX + num_len
                                      + body_len + 16) < 0) {
                goto fail;
            }
            if (count > 0) {
                put(&out, ",", 1);
            }
            put(&out, "[", 1);
            put(&out, s + ks, ke - ks);
            put(&out, ",", 1);
            put(&out, dataset_set ? s + m.dataset_s : "\"\"", dataset_len);
            put(&out, ",", 1);
            put(&out, kind != NULL ? s + m.type_s : "\"Property\"", kind_len);
            put(&out, ",", 1);
            if (!has_observed) {
                put(&out, stamp_text, stamp_len);
            }
            else {
                if (last_len == 0 || ts != last_ts) {  /* readings mostly share one time */
                    last_ts = ts;
                    last_len = decimal(last_text, ts);
                }
                put(&out, last_text, last_len);
            }
            put(&out, ",", 1);
            if (has_observed) {
                put(&out, last_text, last_len);
            }
            else {
                put(&out, "null", 4);
            }
            put(&out, ",", 1);
            put(&out, stamp_text, stamp_len);
            put(&out, ",", 1);
            put(&out, stamp_text, stamp_len);
            put(&out, ",", 1);
            put(&out, num, num_len);
            put(&out, ",{", 2);
            for (int k = 0; k < m.kept; k++) {
                if (k > 0) {
                    put(&out, ",", 1);
                }
                put(&out, s + m.kept_start[k], m.kept_end[k] - m.kept_start[k]);
            }
            put(&out, "}]", 2);
            count++;
        }
        if (pos >= n || s[pos] != ']') {
            goto not_implemented;
        }
        pos++;
        Py_CLEAR(held_attr);
        Py_CLEAR(held_instances);
    }
    if (pos != n - 1 || s[pos] != '}' || count == 0) {
        goto not_implemented;  /* the text holds more, or nothing changed */
    }
    if (out_reserve(&out, 1) < 0) {
        goto fail;
    }
    put(&out, "]", 1);
    if (stamped) {
        if (stamp_us < lo) {
            lo = stamp_us;
        }
        if (stamp_us > hi) {
            hi = stamp_us;
        }
    }
    PyObject *blob = PyByteArray_FromStringAndSize(out.buf, out.len);
    PyMem_Free(out.buf);
    out.buf = NULL;
    if (blob == NULL) {
        goto fail;
    }
    result = Py_BuildValue("(NNLLN)", blob, PyBool_FromLong(plain), lo, hi,
                           pairs != NULL ? pairs : Py_NewRef(Py_None));
    return result;  /* Py_BuildValue took pairs (N), also on failure */

fail:
    PyMem_Free(out.buf);
    Py_XDECREF(pairs);
    Py_XDECREF(held_attr);
    Py_XDECREF(held_instances);
    return NULL;

not_implemented:
    PyMem_Free(out.buf);
    Py_XDECREF(pairs);
    Py_XDECREF(held_attr);
    Py_XDECREF(held_instances);
    Py_RETURN_NOTIMPLEMENTED;
}

static PyMethodDef methods[] = {
    {"elements", (PyCFunction)(void (*)(void))elements, METH_FASTCALL,
     "elements(attrs, stamp, stamp_us, created, seen, text_micros) -> (items, plain, lo, "
     "hi) | None | NotImplemented\n\n"
     "What cityos.hub.temporal.record._elements returns, or NotImplemented for a shape it "
     "leaves to that function."},
    {"change_json", (PyCFunction)(void (*)(void))change_json, METH_FASTCALL,
     "change_json(attrs, attrs_json, stamp, stamp_us, created, seen, text_micros) -> "
     "(bytearray, plain, lo, hi, pairs) | None | NotImplemented\n\n"
     "The change row's JSON (orjson.dumps of elements()' items), spliced from the entity's "
     "attrs JSON, or NotImplemented for a shape it leaves to the Python path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "cityos.hub._native_history",
    "Change-row elements in C (see cityos.hub.temporal.record._elements).", -1, methods,
};

static int
intern(PyObject **slot, const char *text)
{
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__native_history(void)
{
    if (intern(&s_modified_at, "modifiedAt") < 0 || intern(&s_created_at, "createdAt") < 0
        || intern(&s_observed_at, "observedAt") < 0 || intern(&s_type, "type") < 0
        || intern(&s_value, "value") < 0 || intern(&s_dataset_id, "datasetId") < 0
        || intern(&s_property, "Property") < 0 || intern(&s_empty, "") < 0) {
        return NULL;
    }
    no_time = PyLong_FromLongLong(1LL << 62);
    no_time_neg = PyLong_FromLongLong(-(1LL << 62));
    minus_one = PyLong_FromLong(-1);
    if (no_time == NULL || no_time_neg == NULL || minus_one == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
