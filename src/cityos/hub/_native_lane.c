/* cityos.hub._native_lane: a batch of new sensor entities from the request's bytes to the
 * rows the SQLite store writes, without building the entities as Python objects.
 *
 * ``entity_rows`` reads the JSON array of a batch create/upsert body and, when every entity
 * has the common shapes ``_native_expand`` takes (an id and one type; attributes that are a
 * Property with a value and optional unitCode and observedAt, a Relationship to one URI, a
 * GeoProperty Point), returns per entity what the Python path would have made of it:
 *
 * - its attributes' JSON exactly as ``orjson.dumps(entity["attrs"])`` writes the dict that
 *   ``batch._prepare`` (``_native_expand.expand_entity`` or ``model.expand_entity``) makes;
 * - its geometries' GeoJSON texts and where the store indexes each (``_sqlite_cells``);
 * - its history change row's JSON, as ``_native_history.change_json`` splices it for a new
 *   entity (``temporal.record.spliced_row``), with the row's earliest and latest times.
 *
 * JSON values are copied as text, so the lane takes only text that ``orjson`` would write
 * back byte for byte: strings without escapes (valid UTF-8, no control characters),
 * integers without a sign of zero or leading zeros (at most 18 digits), decimal fractions
 * with at most 15 significant digits, no trailing zero and no exponent, in the range orjson
 * writes without one. Anything else — another shape, a member it does not know, a duplicate
 * member, any error at all — answers ``NotImplemented`` for the whole body and the caller
 * runs the Python path, which stays the reference (and reports the errors).
 *
 * Names, types and observedAt values are checked and expanded by the same Python functions
 * as the Python path, through the request's ExpandCache (``names``, ``types``, ``times``),
 * once per distinct text in the body; the call holds the GIL throughout (objects are built
 * only for the results). Constant globals only (interned strings set at module init).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "_native_common.h"

#define NEED 2 /* running without the GIL, the entity needs Python (a text not seen yet) */

#define MAX_DEPTH 32     /* nesting of a value, deeper: declined */
#define MAX_KEYS 64      /* members of one object checked for duplicates, more: declined */
#define MAX_NAMES 128    /* distinct attribute names in one body */
#define MAX_ATTRS 64     /* attributes of one entity */
#define MAX_SHAPES 64    /* distinct (attribute, kind) sequences in one body */
#define MAX_TIMES 4096   /* distinct observedAt texts remembered in one body */
#define MAX_TYPES 32     /* distinct entity types in one body */

static PyObject *s_expand, *s_field, *s_kinds[3];
static const char *const KIND_NAMES[3] = {"Property", "Relationship", "GeoProperty"};
enum { K_PROPERTY, K_RELATIONSHIP, K_GEOPROPERTY };

static const char *const CORE_GEO[3] = {
    "https://uri.etsi.org/ngsi-ld/location",
    "https://uri.etsi.org/ngsi-ld/observationSpace",
    "https://uri.etsi.org/ngsi-ld/operationSpace",
};

/* ------------------------------------------------------------------ output buffer */

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} Out;

static int
out_reserve(Out *o, Py_ssize_t more)
{
    if (o->len + more <= o->cap) {
        return 0;
    }
    Py_ssize_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + more) {
        cap *= 2;
    }
    char *b = PyMem_RawRealloc(o->buf, (size_t)cap); /* without the GIL too */
    if (b == NULL) {
        return -1; /* the caller raises MemoryError once it holds the GIL */
    }
    o->buf = b;
    o->cap = cap;
    return 0;
}

static inline int
out_put(Out *o, const void *s, Py_ssize_t n)
{
    if (o->len + n > o->cap && out_reserve(o, n) < 0) {
        return -1;
    }
    memcpy(o->buf + o->len, s, (size_t)n);
    o->len += n;
    return 0;
}

#define PUT(o, lit) out_put((o), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* Decimal text of v into buf (at least 21 bytes); its length. */
static Py_ssize_t
decimal(char *buf, long long v)
{
    char tmp[24];
    int n = 0, neg = v < 0;
    unsigned long long u = neg ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    Py_ssize_t k = 0;
    if (neg) {
        buf[k++] = '-';
    }
    while (n) {
        buf[k++] = tmp[--n];
    }
    return k;
}

/* ------------------------------------------------------------------ JSON text */

static inline void
skip_ws(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\n' || s[*i] == '\r' || s[*i] == '\t')) {
        (*i)++;
    }
}

/* Valid UTF-8 as orjson reads it (no overlong forms, no surrogates, at most U+10FFFF) for
 * the bytes at s[i..] that start with a byte >= 0x80; the length of the sequence or 0. */
static int
utf8_len(const unsigned char *s, Py_ssize_t n, Py_ssize_t i)
{
    unsigned char c = s[i];
    if (c >= 0xC2 && c <= 0xDF) {
        return (i + 1 < n && (s[i + 1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) {
            return 0;
        }
        if (c == 0xE0 && s[i + 1] < 0xA0) {
            return 0; /* overlong */
        }
        if (c == 0xED && s[i + 1] >= 0xA0) {
            return 0; /* a surrogate */
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80
            || (s[i + 3] & 0xC0) != 0x80) {
            return 0;
        }
        if (c == 0xF0 && s[i + 1] < 0x90) {
            return 0; /* overlong */
        }
        if (c == 0xF4 && s[i + 1] >= 0x90) {
            return 0; /* above U+10FFFF */
        }
        return 4;
    }
    return 0;
}

/* A string at s[*i] (its opening quote) that orjson writes back as it is: no escape, no
 * control character, valid UTF-8. OK with [*start, *end) its text between the quotes and
 * *i past the closing quote; DECLINE otherwise. */
static int
plain_string(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, Py_ssize_t *start,
             Py_ssize_t *end)
{
    Py_ssize_t k = *i;
    if (k >= n || s[k] != '"') {
        return DECLINE;
    }
    k++;
    *start = k;
    while (k < n) {
        unsigned char c = s[k];
        if (c == '"') {
            *end = k;
            *i = k + 1;
            return OK;
        }
        if (c == '\\' || c < 0x20) {
            return DECLINE;
        }
        if (c < 0x80) {
            k++;
            continue;
        }
        int len = utf8_len(s, n, k);
        if (len == 0) {
            return DECLINE;
        }
        k += len;
    }
    return DECLINE;
}

/* A number at s[*i] that orjson writes back as it is. OK with *is_float set and *i past
 * it; DECLINE otherwise. Integers: -?(0|[1-9][0-9]*), not "-0", at most 18 digits (orjson
 * reads them as int and writes the same digits). Fractions: -?(0|[1-9][0-9]*)\.[0-9]+ with
 * no trailing zero (but "x.0"), at most 15 significant digits (so the text is the shortest
 * that reads back as its double, which orjson writes) and, below 1, at most four zeros
 * after the point (orjson writes 1e-6 with an exponent, 0.00001 without). */
static int
plain_number(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, int *is_float)
{
    Py_ssize_t k = *i, digits_start;
    int neg = 0;
    if (k < n && s[k] == '-') {
        neg = 1;
        k++;
    }
    digits_start = k;
    if (k >= n || s[k] < '0' || s[k] > '9') {
        return DECLINE;
    }
    if (s[k] == '0') {
        k++;
    }
    else {
        while (k < n && s[k] >= '0' && s[k] <= '9') {
            k++;
        }
    }
    Py_ssize_t int_digits = k - digits_start;
    int int_zero = int_digits == 1 && s[digits_start] == '0';
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        return DECLINE;
    }
    if (k >= n || s[k] != '.') {
        if (k < n && s[k] >= '0' && s[k] <= '9') {
            return DECLINE; /* a leading zero */
        }
        if ((neg && int_zero) || int_digits > 18) {
            return DECLINE;
        }
        *is_float = 0;
        *i = k;
        return OK;
    }
    k++;
    Py_ssize_t frac_start = k;
    while (k < n && s[k] >= '0' && s[k] <= '9') {
        k++;
    }
    Py_ssize_t frac = k - frac_start;
    if (frac == 0 || (k < n && (s[k] == 'e' || s[k] == 'E'))) {
        return DECLINE;
    }
    if (s[k - 1] == '0' && frac > 1) {
        return DECLINE; /* a trailing zero */
    }
    Py_ssize_t significant;
    if (int_zero) {
        Py_ssize_t zeros = 0;
        while (zeros < frac && s[frac_start + zeros] == '0') {
            zeros++;
        }
        if (zeros == frac) {
            significant = 0; /* 0.0 or -0.0 */
        }
        else {
            if (zeros > 4) {
                return DECLINE;
            }
            significant = frac - zeros;
        }
    }
    else {
        significant = int_digits + frac;
        if (s[k - 1] == '0') {
            significant -= 1; /* "x.0" */
        }
    }
    if (significant > 15) {
        return DECLINE;
    }
    *is_float = 1;
    *i = k;
    return OK;
}

/* Copy the JSON value at s[*i] to ``out`` as orjson writes it back after reading it, or
 * DECLINE where it might not (see above; an object with a repeated member too). */
static int
copy_value(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, Out *out, int depth)
{
    Py_ssize_t k = *i, a, b;
    if (k >= n || depth > MAX_DEPTH) {
        return DECLINE;
    }
    unsigned char c = s[k];
    if (c == '"') {
        if (plain_string(s, n, &k, &a, &b) != OK) {
            return DECLINE;
        }
        if (out_put(out, s + a - 1, b - a + 2) < 0) {
            return FAIL;
        }
        *i = k;
        return OK;
    }
    if (c == '{') {
        Py_ssize_t keys[MAX_KEYS][2];
        int count = 0;
        k++;
        skip_ws(s, n, &k);
        if (out_put(out, "{", 1) < 0) {
            return FAIL;
        }
        if (k < n && s[k] == '}') {
            *i = k + 1;
            return out_put(out, "}", 1) < 0 ? FAIL : OK;
        }
        for (;;) {
            if (count == MAX_KEYS || plain_string(s, n, &k, &a, &b) != OK) {
                return DECLINE;
            }
            for (int j = 0; j < count; j++) {
                if (keys[j][1] - keys[j][0] == b - a
                    && memcmp(s + keys[j][0], s + a, (size_t)(b - a)) == 0) {
                    return DECLINE; /* orjson keeps the last value at the first place */
                }
            }
            keys[count][0] = a;
            keys[count][1] = b;
            if (count > 0 && out_put(out, ",", 1) < 0) {
                return FAIL;
            }
            count++;
            if (out_put(out, s + a - 1, b - a + 2) < 0 || out_put(out, ":", 1) < 0) {
                return FAIL;
            }
            skip_ws(s, n, &k);
            if (k >= n || s[k] != ':') {
                return DECLINE;
            }
            k++;
            skip_ws(s, n, &k);
            int st = copy_value(s, n, &k, out, depth + 1);
            if (st != OK) {
                return st;
            }
            skip_ws(s, n, &k);
            if (k < n && s[k] == ',') {
                k++;
                skip_ws(s, n, &k);
                continue;
            }
            if (k < n && s[k] == '}') {
                *i = k + 1;
                return out_put(out, "}", 1) < 0 ? FAIL : OK;
            }
            return DECLINE;
        }
    }
    if (c == '[') {
        k++;
        skip_ws(s, n, &k);
        if (out_put(out, "[", 1) < 0) {
            return FAIL;
        }
        if (k < n && s[k] == ']') {
            *i = k + 1;
            return out_put(out, "]", 1) < 0 ? FAIL : OK;
        }
        for (int first = 1;; first = 0) {
            if (!first && out_put(out, ",", 1) < 0) {
                return FAIL;
            }
            int st = copy_value(s, n, &k, out, depth + 1);
            if (st != OK) {
                return st;
            }
            skip_ws(s, n, &k);
            if (k < n && s[k] == ',') {
                k++;
                skip_ws(s, n, &k);
                continue;
            }
            if (k < n && s[k] == ']') {
                *i = k + 1;
                return out_put(out, "]", 1) < 0 ? FAIL : OK;
            }
            return DECLINE;
        }
    }
    if (c == 't' || c == 'f' || c == 'n') {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        Py_ssize_t len = (Py_ssize_t)strlen(word);
        if (k + len > n || memcmp(s + k, word, (size_t)len) != 0) {
            return DECLINE;
        }
        if (out_put(out, word, len) < 0) {
            return FAIL;
        }
        *i = k + len;
        return OK;
    }
    int is_float;
    if (plain_number(s, n, &k, &is_float) != OK) {
        return DECLINE;
    }
    if (out_put(out, s + *i, k - *i) < 0) {
        return FAIL;
    }
    *i = k;
    return OK;
}

/* Skip the JSON value at s[*i] by its structure only (strings, brackets; a scalar up to
 * the next delimiter): OK or DECLINE. Used where the same text is then read strictly and
 * must end exactly where this skip ended (read_instance, entity), so it never makes
 * invalid text acceptable. */
static int
skip_value(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i)
{
    Py_ssize_t k = *i;
    if (k >= n) {
        return DECLINE;
    }
    if (s[k] == '"' || s[k] == '{' || s[k] == '[') {
        int depth = 0;
        while (k < n) {
            unsigned char c = s[k++];
            if (c == '"') {
                while (k < n && s[k] != '"') {
                    k += s[k] == '\\' ? 2 : 1;
                }
                if (k >= n) {
                    return DECLINE;
                }
                k++;
            }
            else if (c == '{' || c == '[') {
                if (++depth > MAX_DEPTH) {
                    return DECLINE;
                }
            }
            else if (c == '}' || c == ']') {
                depth--;
            }
            if (depth == 0) {
                *i = k;
                return OK;
            }
        }
        return DECLINE;
    }
    while (k < n && s[k] != ',' && s[k] != '}' && s[k] != ']' && s[k] != ' ' && s[k] != '\n'
           && s[k] != '\r' && s[k] != '\t') {
        k++;
    }
    if (k == *i) {
        return DECLINE;
    }
    *i = k;
    return OK;
}

/* JSON of a str as orjson writes it (only '"', '\\' and control characters escaped). */
static int
put_json_str(Out *o, PyObject *str)
{
    Py_ssize_t len;
    const char *u = PyUnicode_AsUTF8AndSize(str, &len);
    if (u == NULL) {
        return -1;
    }
    if (out_reserve(o, len * 6 + 2) < 0) {
        return -1;
    }
    char *p = o->buf + o->len;
    *p++ = '"';
    for (Py_ssize_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)u[k];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        }
        else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            *p++ = '\\';
            switch (c) {
            case '\n': *p++ = 'n'; break;
            case '\r': *p++ = 'r'; break;
            case '\t': *p++ = 't'; break;
            case '\b': *p++ = 'b'; break;
            case '\f': *p++ = 'f'; break;
            default:
                *p++ = 'u', *p++ = '0', *p++ = '0', *p++ = hex[c >> 4], *p++ = hex[c & 15];
            }
        }
        else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    o->len = p - o->buf;
    return 0;
}

/* ------------------------------------------------------------------ the call's state */

/* One entity's results, as offsets into the call's texts (made without the GIL), turned
 * into Python objects at the end of the call. */
struct Row {
    Py_ssize_t id_s, id_e;          /* the id's text in the body */
    int type, shape;                /* indexes into Call.types and Call.shapes */
    Py_ssize_t attrs_at, attrs_len; /* in Call.attrs */
    Py_ssize_t hist_at, hist_len;   /* in Call.hist */
    Py_ssize_t geo_first, geo_n;    /* in Call.geos */
    long long lo, hi;
};

struct Geo {
    int iri;                      /* index into Call.iris */
    Py_ssize_t text_at, text_len; /* in Call.geo */
    double lon, lat;
    unsigned long long cell;
};

typedef struct {
    Py_ssize_t start, end;  /* the name's text in the body */
    PyObject *iri;          /* owned */
    int iri_index;
    int core_geo;           /* the IRI is location, observationSpace or operationSpace */
} Name;

typedef struct {
    PyObject *iri;          /* owned */
    Py_ssize_t json_at, json_len;  /* its JSON text in Call.iri_json */
} Iri;

typedef struct {
    int count;
    int attrs[MAX_ATTRS];   /* iri index * 4 + kind */
    PyObject *pairs, *names;  /* owned, made on first use */
} Shape;

typedef struct {
    Py_ssize_t start, end;  /* the text in the body */
    long long micros;
} Time;

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
    PyObject *now, *ctx, *names_cache, *types_cache, *times_cache, *helpers;
    PyObject *text_micros, *seen;
    long long stamp_us, max_span;
    double x_scale, y_scale;
    long long top;
    int history;
    Name names[MAX_NAMES];
    int name_count;
    Iri iris[MAX_ATTRS * 2];
    int iri_count;
    Out iri_json;
    Shape shapes[MAX_SHAPES];
    int shape_count;
    Time *times;
    int time_count;
    struct {
        Py_ssize_t start, end; /* the type's text in the body */
        PyObject *iri;         /* owned */
    } types[MAX_TYPES];
    int type_count;
    const char *now_text;
    Py_ssize_t now_len;
    locale_t c_locale;          /* numbers are read in the "C" locale whatever the process's */
    Out attrs, hist, geo;       /* the rows' texts, one after another (see Row and Geo) */
    struct Row *rows;
    Py_ssize_t row_count, row_cap;
    struct Geo *geos;
    Py_ssize_t geo_count, geo_cap;
    char stamp_text[24], last_text[24];  /* the stamp's and the last observed time's */
    Py_ssize_t stamp_len, last_len;
    long long last_ts;
} Call;

static int
helper_failed(Call *c)
{
    if (PyErr_ExceptionMatches(PyTuple_GET_ITEM(c->helpers, H_HUB_ERROR))) {
        PyErr_Clear();
        return DECLINE;
    }
    return FAIL;
}

static PyObject *
str_of(Call *c, Py_ssize_t a, Py_ssize_t b)
{
    return PyUnicode_DecodeUTF8((const char *)c->s + a, b - a, "strict");
}

static int
is_core_geo(PyObject *iri)
{
    for (int k = 0; k < 3; k++) {
        if (PyUnicode_CompareWithASCIIString(iri, CORE_GEO[k]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The index of the IRI in c->iris (added with its JSON on first sight), or -1 (FAIL set)
 * or -2 (declined: too many). */
static int
iri_index(Call *c, PyObject *iri)
{
    for (int k = 0; k < c->iri_count; k++) {
        int eq = PyUnicode_Compare(c->iris[k].iri, iri);
        if (eq == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (eq == 0) {
            return k;
        }
    }
    if (c->iri_count == MAX_ATTRS * 2) {
        return -2;
    }
    Iri *e = &c->iris[c->iri_count];
    e->json_at = c->iri_json.len;
    if (put_json_str(&c->iri_json, iri) < 0) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeError)) {
            PyErr_Clear();
            return -2; /* a lone surrogate: orjson refuses it */
        }
        return -1;
    }
    e->json_len = c->iri_json.len - e->json_at;
    e->iri = Py_NewRef(iri);
    return c->iri_count++;
}

/* Is the body's text at [a, b) the same as at [start, end)? */
static inline int
same_text(Call *c, Py_ssize_t start, Py_ssize_t end, Py_ssize_t a, Py_ssize_t b)
{
    return end - start == b - a && memcmp(c->s + start, c->s + a, (size_t)(b - a)) == 0;
}

/* How a text not in the request's cache is checked and expanded: OK with *iri (a new
 * reference), DECLINE or FAIL. */
typedef int (*Resolve)(Call *c, PyObject *text, PyObject **iri);

/* expand_attributes for a name: check_attribute_name, then ctx.expand. */
static int
resolve_name(Call *c, PyObject *name, PyObject **iri)
{
    PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(c->helpers, H_CHECK_ATTRIBUTE_NAME), name);
    if (r == NULL) {
        return helper_failed(c);
    }
    Py_DECREF(r);
    *iri = PyObject_CallMethodOneArg(c->ctx, s_expand, name);
    return *iri == NULL ? helper_failed(c) : OK;
}

/* expand_entity for a type: expand_types, which must give one IRI (the lane's shapes). */
static int
resolve_type(Call *c, PyObject *raw, PyObject **iri)
{
    PyObject *args[2] = {raw, c->ctx};
    PyObject *list =
        PyObject_Vectorcall(PyTuple_GET_ITEM(c->helpers, H_EXPAND_TYPES), args, 2, NULL);
    if (list == NULL) {
        return helper_failed(c);
    }
    if (!PyList_CheckExact(list) || PyList_GET_SIZE(list) != 1) {
        Py_DECREF(list);
        return DECLINE;
    }
    *iri = Py_NewRef(PyList_GET_ITEM(list, 0));
    Py_DECREF(list);
    return OK;
}

/* The IRI of the text at [a, b) through the request's ``cache`` (a name's or a type's),
 * filled with ``resolve`` on a miss as the Python path fills it: OK with *iri (a new
 * reference to an exact str), DECLINE or FAIL. Holds the GIL. */
static int
cached_iri(Call *c, Py_ssize_t a, Py_ssize_t b, PyObject *cache, Resolve resolve, PyObject **iri)
{
    PyObject *text = str_of(c, a, b);
    if (text == NULL) {
        return FAIL;
    }
    PyObject *found = PyDict_GetItemWithError(cache, text);
    int st = OK;
    if (found != NULL) {
        Py_INCREF(found);
    }
    else if (PyErr_Occurred()) {
        st = FAIL;
    }
    else {
        st = resolve(c, text, &found);
        if (st == OK && PyDict_SetItem(cache, text, found) < 0) {
            Py_DECREF(found);
            st = FAIL;
        }
    }
    Py_DECREF(text);
    if (st != OK) {
        return st;
    }
    if (!PyUnicode_CheckExact(found)) {
        Py_DECREF(found);
        return DECLINE;
    }
    *iri = found;
    return OK;
}

/* The attribute name at [a, b): OK with *out its entry, DECLINE, NEED or FAIL. Checked
 * and expanded as expand_attributes does (names cache, check_attribute_name, ctx.expand). */
static int
name_entry(Call *c, Py_ssize_t a, Py_ssize_t b, Name **out, int gil)
{
    for (int k = 0; k < c->name_count; k++) {
        if (same_text(c, c->names[k].start, c->names[k].end, a, b)) {
            *out = &c->names[k];
            return OK;
        }
    }
    if (c->name_count == MAX_NAMES) {
        return DECLINE;
    }
    if (!gil) {
        return NEED;
    }
    PyObject *iri;
    int st = cached_iri(c, a, b, c->names_cache, resolve_name, &iri);
    if (st != OK) {
        return st;
    }
    int index = iri_index(c, iri);
    if (index < 0) {
        Py_DECREF(iri);
        return index == -1 ? FAIL : DECLINE;
    }
    Name *e = &c->names[c->name_count++];
    e->start = a;
    e->end = b;
    e->iri = iri;
    e->iri_index = index;
    e->core_geo = is_core_geo(iri);
    *out = e;
    return OK;
}

/* The entity type at [a, b) (a string): OK with *out its index in c->types, DECLINE,
 * NEED or FAIL; as expand_entity finds it (types cache, expand_types). */
static int
type_index(Call *c, Py_ssize_t a, Py_ssize_t b, int *out, int gil)
{
    for (int k = 0; k < c->type_count; k++) {
        if (same_text(c, c->types[k].start, c->types[k].end, a, b)) {
            *out = k;
            return OK;
        }
    }
    if (c->type_count == MAX_TYPES) {
        return DECLINE;
    }
    if (!gil) {
        return NEED;
    }
    PyObject *iri;
    int st = cached_iri(c, a, b, c->types_cache, resolve_type, &iri);
    if (st != OK) {
        return st;
    }
    c->types[c->type_count].start = a;
    c->types[c->type_count].end = b;
    c->types[c->type_count].iri = iri;
    *out = c->type_count++;
    return OK;
}

/* An observedAt text at [a, b) of attribute ``name``: OK with *micros its time, DECLINE or
 * FAIL. Checked as _fast_instance does (times cache, check_datetime) and timed as
 * change_json does (the ``seen`` cache, text_micros). */
static int
observed_time(Call *c, Py_ssize_t a, Py_ssize_t b, Name *name, long long *micros, int gil)
{
    for (int k = c->time_count - 1; k >= 0; k--) {
        Time *t = &c->times[k];
        if (same_text(c, t->start, t->end, a, b)) {
            *micros = t->micros;
            return OK;
        }
    }
    if (c->time_count == MAX_TIMES) {
        return DECLINE;
    }
    if (!gil) {
        return NEED;
    }
    PyObject *text = str_of(c, a, b);
    if (text == NULL) {
        return FAIL;
    }
    int known = PySet_Contains(c->times_cache, text);
    if (known < 0) {
        Py_DECREF(text);
        return FAIL;
    }
    if (!known) {
        PyObject *attr = str_of(c, name->start, name->end);
        PyObject *field = attr == NULL ? NULL : PyUnicode_FromFormat("%U.observedAt", attr);
        Py_XDECREF(attr);
        PyObject *kwnames = field == NULL ? NULL : PyTuple_Pack(1, s_field);
        if (kwnames == NULL) {
            Py_XDECREF(field);
            Py_DECREF(text);
            return FAIL;
        }
        PyObject *args[2] = {text, field};
        PyObject *r = PyObject_Vectorcall(PyTuple_GET_ITEM(c->helpers, H_CHECK_DATETIME), args,
                                          1, kwnames);
        Py_DECREF(kwnames);
        Py_DECREF(field);
        if (r == NULL) {
            Py_DECREF(text);
            return helper_failed(c);
        }
        Py_DECREF(r);
        if (PySet_Add(c->times_cache, text) < 0) {
            Py_DECREF(text);
            return FAIL;
        }
    }
    PyObject *ts = PyDict_GetItemWithError(c->seen, text);
    if (ts != NULL) {
        Py_INCREF(ts);
    }
    else {
        if (PyErr_Occurred()) {
            Py_DECREF(text);
            return FAIL;
        }
        ts = PyObject_CallOneArg(c->text_micros, text);
        if (ts == NULL || PyDict_SetItem(c->seen, text, ts) < 0) {
            Py_XDECREF(ts);
            Py_DECREF(text);
            return FAIL;
        }
    }
    Py_DECREF(text);
    long long v = PyLong_AsLongLong(ts);
    Py_DECREF(ts);
    if (v == -1 && PyErr_Occurred()) {
        return FAIL;
    }
    Time *t = &c->times[c->time_count++];
    t->start = a;
    t->end = b;
    t->micros = v;
    *micros = v;
    return OK;
}

/* _sqlite_cells.point_cell: the Z-order cell of a point. */
static inline unsigned long long
spread(unsigned long long v)
{
    v &= 0xFFFFFFFFULL;
    v = (v | (v << 16)) & 0x0000FFFF0000FFFFULL;
    v = (v | (v << 8)) & 0x00FF00FF00FF00FFULL;
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0FULL;
    v = (v | (v << 2)) & 0x3333333333333333ULL;
    v = (v | (v << 1)) & 0x5555555555555555ULL;
    return v;
}

static long long
axis(double v, double offset, double scale, long long top)
{
    double scaled = (v + offset) * scale;
    long long k = (long long)scaled; /* int(): toward zero; |scaled| is far below 2**63 */
    return k < 0 ? 0 : k > top ? top : k;
}

/* ------------------------------------------------------------------ one entity */

/* One instance's member spans (start of value, end of value), -1 when absent. */
typedef struct {
    Py_ssize_t type_s, type_e, value_s, value_e, object_s, object_e;
    Py_ssize_t unit_s, unit_e, observed_s, observed_e;
} Inst;

static int
member_slot(const unsigned char *k, Py_ssize_t len, Inst *m, Py_ssize_t **s, Py_ssize_t **e)
{
#define IS(lit) (len == (Py_ssize_t)sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)
    if (IS("type")) {
        *s = &m->type_s, *e = &m->type_e;
    }
    else if (IS("value")) {
        *s = &m->value_s, *e = &m->value_e;
    }
    else if (IS("object")) {
        *s = &m->object_s, *e = &m->object_e;
    }
    else if (IS("unitCode")) {
        *s = &m->unit_s, *e = &m->unit_e;
    }
    else if (IS("observedAt")) {
        *s = &m->observed_s, *e = &m->observed_e;
    }
    else {
        return DECLINE;
    }
#undef IS
    return OK;
}

/* Read an instance object at s[*i] into m (only the five members, each once). */
static int
read_instance(Call *c, Py_ssize_t *i, Inst *m)
{
    const unsigned char *s = c->s;
    Py_ssize_t n = c->n, k = *i, a, b;
    memset(m, 0xff, sizeof(*m)); /* every span -1 */
    if (k >= n || s[k] != '{') {
        return DECLINE;
    }
    k++;
    skip_ws(s, n, &k);
    if (k < n && s[k] == '}') {
        return DECLINE;
    }
    for (;;) {
        Py_ssize_t *ps, *pe;
        if (plain_string(s, n, &k, &a, &b) != OK || member_slot(s + a, b - a, m, &ps, &pe) != OK
            || *ps != -1) {
            return DECLINE;
        }
        skip_ws(s, n, &k);
        if (k >= n || s[k] != ':') {
            return DECLINE;
        }
        k++;
        skip_ws(s, n, &k);
        *ps = k;
        int st = skip_value(s, n, &k);
        if (st != OK) {
            return st;
        }
        *pe = k;
        skip_ws(s, n, &k);
        if (k < n && s[k] == ',') {
            k++;
            skip_ws(s, n, &k);
            continue;
        }
        if (k < n && s[k] == '}') {
            *i = k + 1;
            return OK;
        }
        return DECLINE;
    }
}

static int
span_is(Call *c, Py_ssize_t a, Py_ssize_t b, const char *text)
{
    Py_ssize_t len = (Py_ssize_t)strlen(text);
    return b - a == len && memcmp(c->s + a, text, (size_t)len) == 0;
}

/* The value of a GeoProperty: {"type": "Point", "coordinates": [lon, lat]} (these two
 * members, either order, two plain fractions in range). OK with its canonical text in
 * ``geo`` and the coordinates; DECLINE or FAIL. */
static int
point_value(Call *c, Py_ssize_t a, Py_ssize_t b, Out *geo, double *lon, double *lat)
{
    const unsigned char *s = c->s;
    Py_ssize_t k = a, ks, ke;
    int have_type = 0, have_coords = 0;
    int copied = copy_value(s, b, &k, geo, 0);
    if (copied != OK || k != b) { /* canonical text; the members are checked below */
        return copied == FAIL ? FAIL : DECLINE;
    }
    k = a + 1;
    for (;;) {
        skip_ws(s, b, &k);
        if (plain_string(s, b, &k, &ks, &ke) != OK) {
            return DECLINE;
        }
        skip_ws(s, b, &k);
        k++; /* ':' (copy_value checked the text) */
        skip_ws(s, b, &k);
        if (span_is(c, ks, ke, "type")) {
            Py_ssize_t vs, ve;
            if (plain_string(s, b, &k, &vs, &ve) != OK || !span_is(c, vs, ve, "Point")) {
                return DECLINE;
            }
            have_type = 1;
        }
        else if (span_is(c, ks, ke, "coordinates")) {
            double xy[2];
            if (s[k] != '[') {
                return DECLINE;
            }
            k++;
            for (int j = 0; j < 2; j++) {
                skip_ws(s, b, &k);
                Py_ssize_t ns = k;
                int is_float;
                if (plain_number(s, b, &k, &is_float) != OK || !is_float) {
                    return DECLINE; /* an int: validate_geojson_geometry decides */
                }
                char buf[64];
                if (k - ns >= (Py_ssize_t)sizeof(buf)) {
                    return DECLINE;
                }
                memcpy(buf, s + ns, (size_t)(k - ns));
                buf[k - ns] = '\0';
                char *stop;
                xy[j] = strtod_l(buf, &stop, c->c_locale); /* correctly rounded, as orjson */
                if (*stop != '\0') {
                    return DECLINE;
                }
                skip_ws(s, b, &k);
                if (s[k] != (j == 0 ? ',' : ']')) {
                    return DECLINE; /* not two numbers */
                }
                k++;
            }
            if (!(-180.0 <= xy[0] && xy[0] <= 180.0 && -90.0 <= xy[1] && xy[1] <= 90.0)) {
                return DECLINE;
            }
            *lon = xy[0];
            *lat = xy[1];
            have_coords = 1;
        }
        else {
            return DECLINE;
        }
        skip_ws(s, b, &k);
        if (s[k] == ',') {
            k++;
            continue;
        }
        break; /* '}' */
    }
    return have_type && have_coords ? OK : DECLINE;
}

/* The element of an attribute's instance in the change row (change_json's layout):
 * [attribute, "", kind, time, observed time or null, stamp, stamp, number, {body}]. */
static int
put_element(Call *c, Out *hist, Iri *iri, int kind, long long ts, int has_observed,
            const char *num, Py_ssize_t num_len, const char *body, Py_ssize_t body_len,
            int first)
{
    const char *t = c->stamp_text, *st = c->stamp_text;
    Py_ssize_t tl = c->stamp_len, sl = c->stamp_len;
    if (has_observed) {
        if (c->last_len == 0 || c->last_ts != ts) { /* readings mostly share one time */
            c->last_ts = ts;
            c->last_len = decimal(c->last_text, ts);
        }
        t = c->last_text;
        tl = c->last_len;
    }
    if ((!first && out_put(hist, ",", 1) < 0) || out_put(hist, "[", 1) < 0
        || out_put(hist, c->iri_json.buf + iri->json_at, iri->json_len) < 0
        || PUT(hist, ",\"\",\"") < 0
        || out_put(hist, KIND_NAMES[kind], (Py_ssize_t)strlen(KIND_NAMES[kind])) < 0
        || PUT(hist, "\",") < 0 || out_put(hist, t, tl) < 0 || out_put(hist, ",", 1) < 0
        || (has_observed ? out_put(hist, t, tl) : PUT(hist, "null")) < 0
        || out_put(hist, ",", 1) < 0 || out_put(hist, st, sl) < 0 || out_put(hist, ",", 1) < 0
        || out_put(hist, st, sl) < 0 || out_put(hist, ",", 1) < 0
        || out_put(hist, num, num_len) < 0 || out_put(hist, ",{", 2) < 0
        || out_put(hist, body, body_len) < 0 || out_put(hist, "}]", 2) < 0) {
        return -1;
    }
    return 0;
}

/* The shape index of an entity's (attribute, kind) sequence, or -1 (declined: too many). */
static int
shape_of(Call *c, int count, const int *attrs)
{
    for (int k = 0; k < c->shape_count; k++) {
        Shape *sh = &c->shapes[k];
        if (sh->count == count && memcmp(sh->attrs, attrs, sizeof(int) * (size_t)count) == 0) {
            return k;
        }
    }
    if (c->shape_count == MAX_SHAPES) {
        return -1;
    }
    Shape *sh = &c->shapes[c->shape_count];
    sh->count = count;
    memcpy(sh->attrs, attrs, sizeof(int) * (size_t)count);
    sh->pairs = sh->names = NULL;
    return c->shape_count++;
}

/* Room for one more element in an array of ``size`` bytes each; 0 or -1 (no memory). */
static int
grow(void **items, Py_ssize_t *cap, Py_ssize_t count, size_t size)
{
    if (count < *cap) {
        return 0;
    }
    Py_ssize_t more = *cap ? *cap * 2 : 1024;
    void *made = PyMem_RawRealloc(*items, (size_t)more * size);
    if (made == NULL) {
        return -1;
    }
    *items = made;
    *cap = more;
    return 0;
}

/* One entity object at s[*i], its texts appended to the call's and its Row to c->rows:
 * OK (*i past it), DECLINE, NEED (``gil`` is 0 and a name, type or observedAt text was
 * not seen yet: the caller runs it again holding the GIL) or FAIL (no memory; with the
 * GIL, an exception of a Python function may be set). On anything but OK the caller
 * rewinds the texts. Without the GIL it touches no Python object. */
static int
entity(Call *c, Py_ssize_t *i, int gil)
{
    const unsigned char *s = c->s;
    Py_ssize_t n = c->n, k = *i, a, b;
    Py_ssize_t id_s = -1, id_e = -1, type_s = -1, type_e = -1;
    Inst insts[MAX_ATTRS]; /* each attribute's instance, read in the first pass */
    Name *attr_name[MAX_ATTRS];
    int count = 0, st = DECLINE;
    Out *attrs = &c->attrs, *hist = &c->hist;
    Py_ssize_t attrs_at = attrs->len, hist_at = hist->len, geo_first = c->geo_count;
    unsigned long long seen_iris[(MAX_ATTRS * 2 + 63) / 64] = {0};

    if (k >= n || s[k] != '{') {
        return DECLINE;
    }
    k++;
    skip_ws(s, n, &k);
    /* the members: id, type and attributes (each attribute's instance read here) */
    for (;;) {
        if (plain_string(s, n, &k, &a, &b) != OK) {
            return DECLINE;
        }
        skip_ws(s, n, &k);
        if (k >= n || s[k] != ':') {
            return DECLINE;
        }
        k++;
        skip_ws(s, n, &k);
        int is_id = span_is(c, a, b, "id");
        if (is_id || span_is(c, a, b, "type")) {
            Py_ssize_t vs, ve;
            if ((is_id ? id_s : type_s) != -1 || plain_string(s, n, &k, &vs, &ve) != OK) {
                return DECLINE;
            }
            if (is_id) {
                id_s = vs, id_e = ve;
            }
            else {
                type_s = vs, type_e = ve;
            }
        }
        else if (s[a] == '@' || span_is(c, a, b, "scope") || span_is(c, a, b, "createdAt")
                 || span_is(c, a, b, "modifiedAt") || span_is(c, a, b, "deletedAt")) {
            return DECLINE; /* @context, @id, @type, scope, ...: the Python path */
        }
        else {
            if (count == MAX_ATTRS) {
                return DECLINE;
            }
            Name *name = NULL;
            st = name_entry(c, a, b, &name, gil);
            if (st != OK) {
                return st;
            }
            int bit = name->iri_index;
            if (seen_iris[bit / 64] & (1ULL << (bit % 64))) {
                return DECLINE; /* a repeated member, or two names of one IRI */
            }
            seen_iris[bit / 64] |= 1ULL << (bit % 64);
            attr_name[count] = name;
            st = read_instance(c, &k, &insts[count]);
            if (st != OK) {
                return st;
            }
            count++;
        }
        skip_ws(s, n, &k);
        if (k < n && s[k] == ',') {
            k++;
            skip_ws(s, n, &k);
            continue;
        }
        if (k < n && s[k] == '}') {
            k++;
            break;
        }
        return DECLINE;
    }
    if (id_s < 0 || type_s < 0 || count == 0 || !uri_ascii_bytes(s + id_s, id_e - id_s)) {
        return DECLINE;
    }
    int type = 0;
    st = type_index(c, type_s, type_e, &type, gil);
    if (st != OK) {
        return st;
    }
    /* each attribute: its instance in the entity's JSON and its element in the change row */
    const char *now = c->now_text;
    Py_ssize_t now_len = c->now_len;
    int kinds[MAX_ATTRS];
    long long lo = 1LL << 62, hi = -(1LL << 62);
    int stamped = 0;
    if (out_put(attrs, "{", 1) < 0 || (c->history && out_put(hist, "[", 1) < 0)) {
        return FAIL;
    }
    for (int j = 0; j < count; j++) {
        Name *name = attr_name[j];
        Iri *iri = &c->iris[name->iri_index];
        Inst m = insts[j];
        Py_ssize_t ks, ke, tp = m.type_s;
        if (m.type_s < 0 || plain_string(s, n, &tp, &ks, &ke) != OK || tp != m.type_e) {
            return DECLINE;
        }
        int kind;
        if (span_is(c, ks, ke, "Property")) {
            kind = K_PROPERTY;
        }
        else if (span_is(c, ks, ke, "Relationship")) {
            kind = K_RELATIONSHIP;
        }
        else if (span_is(c, ks, ke, "GeoProperty")) {
            kind = K_GEOPROPERTY;
        }
        else {
            return DECLINE;
        }
        kinds[j] = name->iri_index * 4 + kind;
        Py_ssize_t kind_len = (Py_ssize_t)strlen(KIND_NAMES[kind]);
        if ((j > 0 && out_put(attrs, ",", 1) < 0)
            || out_put(attrs, c->iri_json.buf + iri->json_at, iri->json_len) < 0
            || PUT(attrs, ":[{") < 0) {
            return FAIL;
        }
        Py_ssize_t body_at = attrs->len; /* the change row's body: the members from "type" */
        if (PUT(attrs, "\"type\":\"") < 0 || out_put(attrs, KIND_NAMES[kind], kind_len) < 0
            || out_put(attrs, "\"", 1) < 0) {
            return FAIL;
        }
        long long ts = c->stamp_us;
        int has_observed = 0;
        const char *num = "null";
        Py_ssize_t num_len = 4;
        char num_text[32];
        if (kind == K_PROPERTY) {
            if (m.value_s < 0 || m.object_s >= 0 || name->core_geo) {
                return DECLINE;
            }
            Py_ssize_t vs = m.value_s;
            if (s[vs] == 'n') {
                return DECLINE; /* null: the Python path's error */
            }
            if (s[vs] == '"') {
                Py_ssize_t x, y, p = vs;
                if (plain_string(s, n, &p, &x, &y) != OK || p != m.value_e
                    || span_is(c, x, y, "urn:ngsi-ld:null")) {
                    return DECLINE;
                }
            }
            if (PUT(attrs, ",\"value\":") < 0) {
                return FAIL;
            }
            Py_ssize_t value_at = attrs->len, p = vs;
            int copied = copy_value(s, n, &p, attrs, 0);
            if (copied != OK || p != m.value_e) {
                return copied == FAIL ? FAIL : DECLINE;
            }
            if (s[vs] == '-' || (s[vs] >= '0' && s[vs] <= '9')) {
                Py_ssize_t q = vs, len = attrs->len - value_at;
                int is_float = 0;
                plain_number(s, n, &q, &is_float);
                if (len + 2 >= (Py_ssize_t)sizeof(num_text)) {
                    return DECLINE;
                }
                memcpy(num_text, attrs->buf + value_at, (size_t)len);
                num = num_text;
                num_len = len;
                if (!is_float) {
                    /* float(v) as orjson writes it: "v.0" below 1e16 */
                    if (len - (num_text[0] == '-') > 16) {
                        return DECLINE;
                    }
                    memcpy(num_text + len, ".0", 2);
                    num_len = len + 2;
                }
            }
            if (m.unit_s >= 0) {
                Py_ssize_t x, y, p2 = m.unit_s;
                if (plain_string(s, n, &p2, &x, &y) != OK || y == x || p2 != m.unit_e) {
                    return DECLINE;
                }
                if (PUT(attrs, ",\"unitCode\":") < 0
                    || out_put(attrs, s + x - 1, y - x + 2) < 0) {
                    return FAIL;
                }
            }
            if (m.observed_s >= 0) {
                Py_ssize_t x, y, p2 = m.observed_s;
                if (plain_string(s, n, &p2, &x, &y) != OK || p2 != m.observed_e) {
                    return DECLINE;
                }
                st = observed_time(c, x, y, name, &ts, gil);
                if (st != OK) {
                    return st;
                }
                has_observed = 1;
                if (PUT(attrs, ",\"observedAt\":") < 0
                    || out_put(attrs, s + x - 1, y - x + 2) < 0) {
                    return FAIL;
                }
            }
        }
        else if (kind == K_RELATIONSHIP) {
            Py_ssize_t x, y, p2 = m.object_s;
            if (m.object_s < 0 || m.value_s >= 0 || m.unit_s >= 0 || m.observed_s >= 0
                || name->core_geo || plain_string(s, n, &p2, &x, &y) != OK
                || p2 != m.object_e || span_is(c, x, y, "urn:ngsi-ld:null")
                || !uri_ascii_bytes(s + x, y - x)) {
                return DECLINE;
            }
            if (PUT(attrs, ",\"object\":") < 0 || out_put(attrs, s + x - 1, y - x + 2) < 0) {
                return FAIL;
            }
        }
        else {
            if (m.value_s < 0 || m.object_s >= 0 || m.unit_s >= 0 || m.observed_s >= 0) {
                return DECLINE;
            }
            double lon = 0.0, lat = 0.0;
            Py_ssize_t geo_at = c->geo.len;
            st = point_value(c, m.value_s, m.value_e, &c->geo, &lon, &lat);
            if (st != OK) {
                return st;
            }
            if (PUT(attrs, ",\"value\":") < 0
                || out_put(attrs, c->geo.buf + geo_at, c->geo.len - geo_at) < 0
                || grow((void **)&c->geos, &c->geo_cap, c->geo_count, sizeof(struct Geo)) < 0) {
                return FAIL;
            }
            struct Geo *g = &c->geos[c->geo_count++];
            g->iri = name->iri_index;
            g->text_at = geo_at;
            g->text_len = c->geo.len - geo_at;
            g->lon = lon;
            g->lat = lat;
            g->cell = spread((unsigned long long)axis(lon, 180.0, c->x_scale, c->top))
                      | (spread((unsigned long long)axis(lat, 90.0, c->y_scale, c->top)) << 1);
        }
        Py_ssize_t body_end = attrs->len;
        if (PUT(attrs, ",\"createdAt\":\"") < 0 || out_put(attrs, now, now_len) < 0
            || PUT(attrs, "\",\"modifiedAt\":\"") < 0 || out_put(attrs, now, now_len) < 0
            || PUT(attrs, "\"}]") < 0) {
            return FAIL;
        }
        if (has_observed) {
            lo = ts < lo ? ts : lo;
            hi = ts > hi ? ts : hi;
        }
        else {
            stamped = 1;
        }
        if (c->history
            && put_element(c, hist, iri, kind, ts, has_observed, num, num_len,
                           attrs->buf + body_at, body_end - body_at, j == 0) < 0) {
            return FAIL;
        }
    }
    if (out_put(attrs, "}", 1) < 0 || (c->history && out_put(hist, "]", 1) < 0)) {
        return FAIL;
    }
    if (stamped) {
        lo = c->stamp_us < lo ? c->stamp_us : lo;
        hi = c->stamp_us > hi ? c->stamp_us : hi;
    }
    if (c->history && hi - lo > c->max_span) {
        return DECLINE; /* the Python path splits the row */
    }
    int shape = shape_of(c, count, kinds);
    if (shape < 0) {
        return DECLINE;
    }
    if (grow((void **)&c->rows, &c->row_cap, c->row_count, sizeof(struct Row)) < 0) {
        return FAIL;
    }
    struct Row *r = &c->rows[c->row_count++];
    r->id_s = id_s;
    r->id_e = id_e;
    r->type = type;
    r->shape = shape;
    r->attrs_at = attrs_at;
    r->attrs_len = attrs->len - attrs_at;
    r->hist_at = hist_at;
    r->hist_len = hist->len - hist_at;
    r->geo_first = geo_first;
    r->geo_n = c->geo_count - geo_first;
    r->lo = lo;
    r->hi = hi;
    *i = k;
    return OK;
}

/* The Python row of c->rows[j] (see entity_rows), its id ``id``, or NULL. */
static PyObject *
row_objects(Call *c, Py_ssize_t j, PyObject *id)
{
    struct Row *r = &c->rows[j];
    PyObject *geo = PyTuple_New(r->geo_n), *places = PyTuple_New(r->geo_n);
    if (geo == NULL || places == NULL) {
        Py_XDECREF(geo);
        Py_XDECREF(places);
        return NULL;
    }
    for (Py_ssize_t g = 0; g < r->geo_n; g++) {
        struct Geo *e = &c->geos[r->geo_first + g];
        PyObject *pair = Py_BuildValue("(Os#)", c->iris[e->iri].iri, c->geo.buf + e->text_at,
                                       e->text_len);
        PyObject *place = Py_BuildValue("(KddO)", e->cell, e->lon, e->lat, Py_None);
        if (pair == NULL || place == NULL) {
            Py_XDECREF(pair);
            Py_XDECREF(place);
            Py_DECREF(geo);
            Py_DECREF(places);
            return NULL;
        }
        PyTuple_SET_ITEM(geo, g, pair);
        PyTuple_SET_ITEM(places, g, place);
    }
    PyObject *blob = c->history
                         ? PyByteArray_FromStringAndSize(c->hist.buf + r->hist_at, r->hist_len)
                         : Py_NewRef(Py_None);
    if (blob == NULL) {
        Py_DECREF(geo);
        Py_DECREF(places);
        return NULL;
    }
    return Py_BuildValue("(OOy#iNNNLL)", id, c->types[r->type].iri, c->attrs.buf + r->attrs_at,
                         r->attrs_len, r->shape, geo, places, blob, r->lo, r->hi);
}

/* The Python objects of shape k: ((iri, kind), ...) and (iri, ...). */
static PyObject *
shape_objects(Call *c, int k)
{
    Shape *sh = &c->shapes[k];
    PyObject *pairs = PyTuple_New(sh->count), *names = PyTuple_New(sh->count);
    if (pairs == NULL || names == NULL) {
        Py_XDECREF(pairs);
        Py_XDECREF(names);
        return NULL;
    }
    for (int j = 0; j < sh->count; j++) {
        PyObject *iri = c->iris[sh->attrs[j] / 4].iri;
        PyObject *pair = PyTuple_Pack(2, iri, s_kinds[sh->attrs[j] % 4]);
        if (pair == NULL) {
            Py_DECREF(pairs);
            Py_DECREF(names);
            return NULL;
        }
        PyTuple_SET_ITEM(pairs, j, pair);
        PyTuple_SET_ITEM(names, j, Py_NewRef(iri));
    }
    return Py_BuildValue("(NN)", pairs, names);
}

PyDoc_STRVAR(entity_rows_doc,
"entity_rows(body, now, stamp_us, ctx, names, types, times, helpers, text_micros, seen,\n"
"            max_span, cells, history, exists, /)\n--\n\n"
"Return (rows, shapes) for a batch body (bytes) of new entities in the common shapes, or\n"
"NotImplemented (the Python path must run). rows: per entity (id, type IRI, attrs JSON\n"
"bytes, shape index, ((IRI, GeoJSON text), ...), ((cell, lon, lat, None), ...), change\n"
"row JSON bytearray or None, lo, hi); shapes: per index (((IRI, kind), ...), (IRI, ...)).\n"
"``names``, ``types``, ``times`` are the request's ExpandCache for ``ctx``; ``helpers`` is\n"
"model.NATIVE_HELPERS; ``text_micros`` and ``seen`` time the observedAt values as\n"
"temporal.record does; ``cells`` is (x scale, y scale, top) of _sqlite_cells; ``history``:\n"
"make the change rows (a change row whose times span more than ``max_span`` declines);\n"
"``exists(ids)``: true when one of the body's ids exists already (then NotImplemented).");

static PyObject *
entity_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 14) {
        PyErr_Format(PyExc_TypeError, "entity_rows takes 14 arguments (%zd given)", nargs);
        return NULL;
    }
    Call *c = PyMem_RawCalloc(1, sizeof(Call));
    if (c == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL, *rows = NULL, *shapes = NULL, *ids = NULL;
    int st = DECLINE;
    if (!PyBytes_CheckExact(args[0]) || !PyUnicode_CheckExact(args[1])
        || !PyDict_CheckExact(args[4]) || !PyDict_CheckExact(args[5])
        || !PySet_CheckExact(args[6]) || !PyTuple_CheckExact(args[7])
        || PyTuple_GET_SIZE(args[7]) != H_COUNT || !PyDict_CheckExact(args[9])
        || !PyTuple_CheckExact(args[11]) || PyTuple_GET_SIZE(args[11]) != 3) {
        PyErr_SetString(PyExc_TypeError, "entity_rows: bad argument types");
        goto out;
    }
    c->s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    c->n = PyBytes_GET_SIZE(args[0]);
    c->now = args[1];
    c->stamp_us = PyLong_AsLongLong(args[2]);
    c->ctx = args[3];
    c->names_cache = args[4];
    c->types_cache = args[5];
    c->times_cache = args[6];
    c->helpers = args[7];
    c->text_micros = args[8];
    c->seen = args[9];
    c->max_span = PyLong_AsLongLong(args[10]);
    c->x_scale = PyFloat_AsDouble(PyTuple_GET_ITEM(args[11], 0));
    c->y_scale = PyFloat_AsDouble(PyTuple_GET_ITEM(args[11], 1));
    c->top = PyLong_AsLongLong(PyTuple_GET_ITEM(args[11], 2));
    c->stamp_len = decimal(c->stamp_text, c->stamp_us);
    c->history = PyObject_IsTrue(args[12]);
    c->now_text = PyUnicode_AsUTF8AndSize(c->now, &c->now_len);
    if (PyErr_Occurred() || c->history < 0 || c->now_text == NULL) {
        goto out;
    }
    c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    c->times = PyMem_RawMalloc(sizeof(Time) * MAX_TIMES);
    if (c->c_locale == (locale_t)0 || c->times == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    /* The body is read without the GIL (the bytes object is immutable and the caller holds
     * it), so another thread's Python runs meanwhile; an entity that needs Python (a name,
     * type or observedAt not seen yet in this body: the first few) is read again holding
     * it. The results become Python objects at the end, with the GIL. */
    Py_ssize_t k = 0;
    PyThreadState *thread = PyEval_SaveThread();
    skip_ws(c->s, c->n, &k);
    if (k >= c->n || c->s[k] != '[') {
        st = DECLINE;
    }
    else {
        k++;
        skip_ws(c->s, c->n, &k);
        for (;;) {
            Py_ssize_t attrs_len = c->attrs.len, hist_len = c->hist.len, geo_len = c->geo.len;
            Py_ssize_t geo_count = c->geo_count;
            st = entity(c, &k, 0);
            if (st == NEED) {
                c->attrs.len = attrs_len, c->hist.len = hist_len, c->geo.len = geo_len;
                c->geo_count = geo_count;
                PyEval_RestoreThread(thread);
                st = entity(c, &k, 1);
                thread = PyEval_SaveThread();
            }
            if (st != OK) {
                break;
            }
            skip_ws(c->s, c->n, &k);
            if (k < c->n && c->s[k] == ',') {
                k++;
                skip_ws(c->s, c->n, &k);
                continue;
            }
            if (k < c->n && c->s[k] == ']') {
                k++;
                skip_ws(c->s, c->n, &k);
                st = k == c->n ? OK : DECLINE;
                break;
            }
            st = DECLINE;
            break;
        }
    }
    PyEval_RestoreThread(thread);
    if (st == FAIL) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        goto out;
    }
    if (st != OK) {
        result = Py_NewRef(Py_NotImplemented);
        goto out;
    }
    /* the ids first: when one exists already (``exists``, the store's look-up), the body is
     * an update, left to the Python path before any object of its rows is made */
    ids = PyList_New(c->row_count);
    if (ids == NULL) {
        goto out;
    }
    for (Py_ssize_t j = 0; j < c->row_count; j++) {
        PyObject *id = PyUnicode_DecodeUTF8((const char *)c->s + c->rows[j].id_s,
                                            c->rows[j].id_e - c->rows[j].id_s, "strict");
        if (id == NULL) {
            goto out;
        }
        PyList_SET_ITEM(ids, j, id);
    }
    PyObject *found = PyObject_CallOneArg(args[13], ids);
    int existing = found == NULL ? -1 : PyObject_IsTrue(found);
    Py_XDECREF(found);
    if (existing < 0) {
        goto out;
    }
    if (existing) {
        result = Py_NewRef(Py_NotImplemented);
        goto out;
    }
    rows = PyList_New(c->row_count);
    shapes = rows == NULL ? NULL : PyList_New(c->shape_count);
    if (shapes == NULL) {
        goto out;
    }
    for (Py_ssize_t j = 0; j < c->row_count; j++) {
        PyObject *row = row_objects(c, j, PyList_GET_ITEM(ids, j));
        if (row == NULL) {
            goto out;
        }
        PyList_SET_ITEM(rows, j, row);
    }
    for (int j = 0; j < c->shape_count; j++) {
        PyObject *o = shape_objects(c, j);
        if (o == NULL) {
            goto out;
        }
        PyList_SET_ITEM(shapes, j, o);
    }
    result = PyTuple_Pack(2, rows, shapes);
out:
    Py_XDECREF(ids);
    Py_XDECREF(rows);
    Py_XDECREF(shapes);
    for (int j = 0; j < c->name_count; j++) {
        Py_DECREF(c->names[j].iri);
    }
    for (int j = 0; j < c->iri_count; j++) {
        Py_DECREF(c->iris[j].iri);
    }
    for (int j = 0; j < c->type_count; j++) {
        Py_DECREF(c->types[j].iri);
    }
    if (c->c_locale != (locale_t)0) {
        freelocale(c->c_locale);
    }
    PyMem_RawFree(c->iri_json.buf);
    PyMem_RawFree(c->attrs.buf);
    PyMem_RawFree(c->hist.buf);
    PyMem_RawFree(c->geo.buf);
    PyMem_RawFree(c->rows);
    PyMem_RawFree(c->geos);
    PyMem_RawFree(c->times);
    PyMem_RawFree(c);
    return result;
}

static PyMethodDef methods[] = {
    {"entity_rows", (PyCFunction)(void (*)(void))entity_rows, METH_FASTCALL, entity_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    "cityos.hub._native_lane",
    "A batch of new entities from request bytes to store rows, in C (see batch.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__native_lane(void)
{
    s_expand = PyUnicode_InternFromString("expand");
    s_field = PyUnicode_InternFromString("field");
    if (s_expand == NULL || s_field == NULL) {
        return NULL;
    }
    for (int k = 0; k < 3; k++) {
        s_kinds[k] = PyUnicode_InternFromString(KIND_NAMES[k]);
        if (s_kinds[k] == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&moduledef);
}
