/* tt-stress compare: flattens both JSON reports (json.c) and prints one row per numeric or
 * boolean figure of the old report (then any the new one adds), skipping figures that are 0
 * in both except the invariants, whose zeros are the point. */
#include "compare.h"

#include <math.h>
#include <string.h>

#include "json.h"

void compare_change(char *buf, size_t len, double o, double n)
{
    if (o == n)
        snprintf(buf, len, "=");
    else if (o == 0)
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%+.1f%%", (n - o) / fabs(o) * 100.0);
}

static int is_figure(const json_leaf *l)
{
    return l && (l->type == JSON_NUMBER || l->type == JSON_BOOL);
}

static void fmt_value(char *buf, size_t len, const json_leaf *l)
{
    if (!is_figure(l))
        snprintf(buf, len, "-");
    else if (l->type == JSON_BOOL)
        snprintf(buf, len, "%s", l->num ? "true" : "false");
    else if (l->num == floor(l->num) && fabs(l->num) < 1e15)
        snprintf(buf, len, "%.0f", l->num);
    else
        snprintf(buf, len, "%.6g", l->num);
}

static void row(FILE *out, const char *path, const json_leaf *o, const json_leaf *n)
{
    int always = strncmp(path, "invariants/", 11) == 0 || strcmp(path, "pass") == 0;
    if (!always && (!is_figure(o) || o->num == 0) && (!is_figure(n) || n->num == 0))
        return;
    char ov[32], nv[32], ch[32];
    fmt_value(ov, sizeof ov, o);
    fmt_value(nv, sizeof nv, n);
    if (!is_figure(o) || !is_figure(n))
        snprintf(ch, sizeof ch, "%s", is_figure(o) ? "gone" : "added");
    else if (o->type == JSON_BOOL || n->type == JSON_BOOL)
        snprintf(ch, sizeof ch, "%s", o->num == n->num ? "=" : "changed");
    else
        compare_change(ch, sizeof ch, o->num, n->num);
    fprintf(out, "  %-44s %16s %16s %9s\n", path, ov, nv, ch);
}

static const char *text_of(const json_doc *d, const char *path)
{
    const json_leaf *l = json_find(d, path);
    return l && l->type == JSON_STRING ? l->str : "?";
}

static void verdict(char *buf, size_t len, const json_doc *d)
{
    const json_leaf *pass = json_find(d, "pass");
    if (!pass || pass->type != JSON_BOOL) {
        snprintf(buf, len, "?");
        return;
    }
    size_t off = (size_t)snprintf(buf, len, "%s", pass->num ? "PASS" : "FAIL (");
    for (unsigned i = 0; !pass->num && off < len; i++) {
        char path[16];
        snprintf(path, sizeof path, "failed/%u", i);
        const json_leaf *f = json_find(d, path);
        if (!f || f->type != JSON_STRING)
            break;
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", f->str);
    }
    if (!pass->num && off < len)
        snprintf(buf + off, len - off, ")");
}

static int load(const char *name, const char *text, json_doc *d, char *err, size_t errlen)
{
    char why[200];
    if (json_flatten(text, d, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: not valid JSON: %s", name, why);
        return -1;
    }
    const json_leaf *tool = json_find(d, "tool");
    if (!tool || tool->type != JSON_STRING || strcmp(tool->str, "tt-stress") != 0) {
        snprintf(err, errlen, "%s: not a tt-stress report (no \"tool\": \"tt-stress\")", name);
        return -1;
    }
    return 0;
}

int stress_compare(FILE *out, const char *old_name, const char *old_text, const char *new_name,
                   const char *new_text, char *err, size_t errlen)
{
    json_doc o, n;
    int rc = -1;
    if (load(old_name, old_text, &o, err, errlen) < 0) {
        json_doc_free(&o);
        return -1;
    }
    if (load(new_name, new_text, &n, err, errlen) < 0)
        goto out;
    fprintf(out, "tt-stress compare\n  old: %s: %s, %s\n  new: %s: %s, %s\n\n", old_name,
            text_of(&o, "scenario"), text_of(&o, "settings"), new_name, text_of(&n, "scenario"),
            text_of(&n, "settings"));
    fprintf(out, "  %-44s %16s %16s %9s\n", "figure (latency in ns)", "old", "new", "change");
    for (size_t i = 0; i < o.n; i++)
        if (is_figure(&o.v[i]))
            row(out, o.v[i].path, &o.v[i], json_find(&n, o.v[i].path));
    for (size_t i = 0; i < n.n; i++)
        if (is_figure(&n.v[i]) && !is_figure(json_find(&o, n.v[i].path)))
            row(out, n.v[i].path, json_find(&o, n.v[i].path), &n.v[i]);
    char ov[200], nv[200];
    verdict(ov, sizeof ov, &o);
    verdict(nv, sizeof nv, &n);
    fprintf(out, "\n  verdict: old %s, new %s\n", ov, nv);
    rc = ferror(out) ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen, "write error");
out:
    json_doc_free(&o);
    json_doc_free(&n);
    return rc;
}
