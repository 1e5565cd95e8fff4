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

static PyMethodDef methods[] = {
    {"elements", (PyCFunction)(void (*)(void))elements, METH_FASTCALL,
     "elements(attrs, stamp, stamp_us, created, seen, text_micros) -> (items, plain, lo, "
     "hi) | None | NotImplemented\n\n"
     "What cityos.hub.temporal.record._elements returns, or NotImplemented for a shape it "
     "leaves to that function."},
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
