/* tt-stress's JSON reader, for `tt-stress compare`: parses a document strictly (RFC 8259:
 * no trailing commas, no comments, escapes checked, nothing after the value) and flattens it
 * into its leaves, each named by its path ("latency_ns/all/p99.9": '/' separates, since keys
 * hold dots; array elements are numbered from 0). Pure code. */
#ifndef TT_STRESS_JSON_H
#define TT_STRESS_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING } json_type;

typedef struct json_leaf {
    char path[160];
    json_type type;
    double num;  /* JSON_NUMBER; JSON_BOOL: 1 or 0 */
    char *str;   /* JSON_STRING (decoded; \u escapes above 0x7f become UTF-8), else NULL */
} json_leaf;

typedef struct json_doc {
    json_leaf *v;
    size_t n, cap;
} json_doc;

/* Parses text into doc (which the caller frees with json_doc_free, also after a failure).
 * 0, or -1 with "line L, column C: what" in err. */
int json_flatten(const char *text, json_doc *doc, char *err, size_t errlen);
void json_doc_free(json_doc *doc);
/* The leaf at path, or NULL. */
const json_leaf *json_find(const json_doc *doc, const char *path);

#endif
