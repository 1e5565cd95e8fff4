/* What the hub's C extensions share (_native_expand.c, _native_lane.c): the positions of the
 * Python helpers they call (model.NATIVE_HELPERS), their answers, and model._URI_ASCII's
 * test of plain ASCII text. Constant data and static inline functions only. */
#ifndef CITYOS_NATIVE_COMMON_H
#define CITYOS_NATIVE_COMMON_H

#include <Python.h>

/* helpers tuple passed by the caller (model.NATIVE_HELPERS), by position */
enum {
    H_CHECK_ATTRIBUTE_NAME,
    H_EXPAND_TYPES,
    H_CHECK_SCOPE,
    H_CHECK_DATETIME,
    H_IS_URI,
    H_VALIDATE_GEOMETRY,
    H_HUB_ERROR,
    H_COUNT
};

/* results of the internal steps */
#define OK 1
#define DECLINE 0
#define FAIL (-1)

static inline int
ascii_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The ASCII characters model._URI_ASCII refuses after the scheme (\s spelled out, < > " { } |
 * \ ^ `); constant data. */
static const unsigned char URI_REFUSED[128] = {
    ['\t'] = 1, ['\n'] = 1, [0x0b] = 1, [0x0c] = 1, ['\r'] = 1, [0x1c] = 1, [0x1d] = 1,
    [0x1e] = 1, [0x1f] = 1, [' '] = 1,  ['<'] = 1,  ['>'] = 1,  ['"'] = 1,  ['{'] = 1,
    ['}'] = 1,  ['|'] = 1,  ['\\'] = 1, ['^'] = 1,  ['`'] = 1,
};

/* model._URI_ASCII for the usual case: 1 when the n bytes at p certainly match
 * ^[A-Za-z][A-Za-z0-9+.\-]*:[^\t\n\x0b\x0c\r\x1c-\x20<>"{}|\\^`]+$ (so is_uri is True),
 * 0 when it is not known here (a byte above ASCII, or a character the pattern refuses,
 * where ``$`` still accepts one final newline): is_uri decides. */
static inline int
uri_ascii_bytes(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i;
    if (n == 0 || !ascii_alpha(p[0])) {
        return 0;
    }
    for (i = 1; i < n && p[i] != ':'; i++) {
        unsigned char c = p[i];
        if (!(ascii_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-')) {
            return 0;
        }
    }
    if (i + 1 >= n) { /* no colon, or nothing after it */
        return 0;
    }
    for (i++; i < n; i++) {
        if (p[i] >= 0x80 || URI_REFUSED[p[i]]) {
            return 0;
        }
    }
    return 1;
}

#endif
