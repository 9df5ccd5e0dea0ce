/* tt-stress JSON reader: a recursive-descent parser that keeps only the leaves, each with its
 * path. Reports are small (tens of KiB), so a linear json_find is enough. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 32

typedef struct parser {
    const char *s, *p;
    json_doc *doc;
    char *err;
    size_t errlen;
    int failed;
} parser;

static int fail(parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return -1;
    ps->failed = 1;
    int line = 1, col = 1;
    for (const char *q = ps->s; q < ps->p; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->err && ps->errlen)
        snprintf(ps->err, ps->errlen, "line %d, column %d: %s", line, col, msg);
    return -1;
}

static void skip_ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static json_leaf *add_leaf(parser *ps, const char *path, json_type t)
{
    json_doc *d = ps->doc;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        json_leaf *v = realloc(d->v, cap * sizeof *v);
        if (!v) {
            fail(ps, "out of memory");
            return NULL;
        }
        d->v = v;
        d->cap = cap;
    }
    json_leaf *l = &d->v[d->n++];
    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "%s", path);
    l->type = t;
    return l;
}

static void put_utf8(char **o, unsigned cp)
{
    if (cp < 0x80) {
        *(*o)++ = (char)cp;
    } else if (cp < 0x800) {
        *(*o)++ = (char)(0xc0 | cp >> 6);
        *(*o)++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *(*o)++ = (char)(0xe0 | cp >> 12);
        *(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *(*o)++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *(*o)++ = (char)(0xf0 | cp >> 18);
        *(*o)++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *(*o)++ = (char)(0x80 | (cp & 0x3f));
    }
}

static int hex4(parser *ps, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(ps, "bad \\u escape");
    }
    *out = v;
    return 0;
}

/* A string at ps->p (on its opening quote); *out is malloc'd, decoded. */
static int parse_string(parser *ps, char **out)
{
    ps->p++;
    /* Decoded text is never longer than its source (a \u escape of 6 bytes is at most 4). */
    const char *end = ps->p;
    while (*end && *end != '"')
        end += (*end == '\\' && end[1]) ? 2 : 1;
    char *buf = malloc((size_t)(end - ps->p) + 1), *o = buf;
    if (!buf)
        return fail(ps, "out of memory");
    for (;;) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c == 0) {
            free(buf);
            return fail(ps, "unterminated string");
        }
        if (c < 0x20) {
            free(buf);
            return fail(ps, "control character in a string");
        }
        ps->p++;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        char e = *ps->p++;
        unsigned cp = 0;
        switch (e) {
        case '"': case '\\': case '/':
            *o++ = e;
            break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (hex4(ps, &cp) < 0) {
                free(buf);
                return -1;
            }
            if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo = 0;
                ps->p += 2;
                if (hex4(ps, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                    free(buf);
                    return fail(ps, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xd800 && cp < 0xe000) {
                free(buf);
                return fail(ps, "lone surrogate");
            }
            put_utf8(&o, cp);
            break;
        default:
            free(buf);
            return fail(ps, "bad escape '\\%c'", e);
        }
    }
    *o = 0;
    *out = buf;
    return 0;
}

static int parse_number(parser *ps, double *out)
{
    /* The grammar first (strtod alone takes "0x1", "inf", "+1", "01", "1."), then strtod. */
    const char *q = ps->p;
    if (*q == '-')
        q++;
    if (*q == '0')
        q++;
    else if (*q >= '1' && *q <= '9')
        while (*q >= '0' && *q <= '9')
            q++;
    else
        return fail(ps, "bad number");
    if (*q == '.') {
        q++;
        if (!(*q >= '0' && *q <= '9'))
            return fail(ps, "bad number: no digit after '.'");
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return fail(ps, "bad number: no digit in the exponent");
        while (*q >= '0' && *q <= '9')
            q++;
    }
    errno = 0;
    *out = strtod(ps->p, NULL);
    if (errno == ERANGE && fabs(*out) > 1)
        return fail(ps, "number out of range");
    ps->p = q;
    return 0;
}

static int parse_value(parser *ps, const char *path, int depth);

static int child_path(parser *ps, char *buf, size_t len, const char *path, const char *key)
{
    int n = snprintf(buf, len, "%s%s%s", path, *path ? "/" : "", key);
    return n < 0 || (size_t)n >= len ? fail(ps, "path too long") : 0;
}

static int parse_object(parser *ps, const char *path, int depth)
{
    ps->p++;
    skip_ws(ps);
    if (*ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (*ps->p != '"')
            return fail(ps, "expected a key");
        char *key;
        if (parse_string(ps, &key) < 0)
            return -1;
        char sub[sizeof ((json_leaf *)0)->path];
        int rc = child_path(ps, sub, sizeof sub, path, key);
        free(key);
        if (rc < 0)
            return -1;
        skip_ws(ps);
        if (*ps->p != ':')
            return fail(ps, "expected ':'");
        ps->p++;
        if (parse_value(ps, sub, depth + 1) < 0)
            return -1;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            return 0;
        }
        return fail(ps, "expected ',' or '}'");
    }
}

static int parse_array(parser *ps, const char *path, int depth)
{
    ps->p++;
    skip_ws(ps);
    if (*ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (unsigned i = 0;; i++) {
        char idx[16], sub[sizeof ((json_leaf *)0)->path];
        snprintf(idx, sizeof idx, "%u", i);
        if (child_path(ps, sub, sizeof sub, path, idx) < 0 || parse_value(ps, sub, depth + 1) < 0)
            return -1;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            return 0;
        }
        return fail(ps, "expected ',' or ']'");
    }
}

static int parse_value(parser *ps, const char *path, int depth)
{
    if (depth > DEPTH_MAX)
        return fail(ps, "nested too deep");
    skip_ws(ps);
    json_leaf *l;
    char c = *ps->p;
    if (c == '{')
        return parse_object(ps, path, depth);
    if (c == '[')
        return parse_array(ps, path, depth);
    if (c == '"') {
        char *str;
        if (parse_string(ps, &str) < 0)
            return -1;
        if (!(l = add_leaf(ps, path, JSON_STRING))) {
            free(str);
            return -1;
        }
        l->str = str;
        return 0;
    }
    static const struct { const char *word; json_type t; double v; } words[] = {
        {"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0},
    };
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(ps->p, words[i].word, n) == 0) {
            ps->p += n;
            if (!(l = add_leaf(ps, path, words[i].t)))
                return -1;
            l->num = words[i].v;
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        double v = 0;
        if (parse_number(ps, &v) < 0 || !(l = add_leaf(ps, path, JSON_NUMBER)))
            return -1;
        l->num = v;
        return 0;
    }
    return c ? fail(ps, "unexpected '%c'", c) : fail(ps, "unexpected end of input");
}

int json_flatten(const char *text, json_doc *doc, char *err, size_t errlen)
{
    parser ps = {text, text, doc, err, errlen, 0};
    memset(doc, 0, sizeof *doc);
    if (parse_value(&ps, "", 0) < 0)
        return -1;
    skip_ws(&ps);
    if (*ps.p)
        return fail(&ps, "text after the document");
    return 0;
}

void json_doc_free(json_doc *doc)
{
    for (size_t i = 0; i < doc->n; i++)
        free(doc->v[i].str);
    free(doc->v);
    memset(doc, 0, sizeof *doc);
}

const json_leaf *json_find(const json_doc *doc, const char *path)
{
    for (size_t i = 0; i < doc->n; i++)
        if (strcmp(doc->v[i].path, path) == 0)
            return &doc->v[i];
    return NULL;
}
