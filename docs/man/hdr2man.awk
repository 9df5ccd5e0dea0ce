# hdr2man.awk — writes one man(7) page in section 3 per function declared in include/tothread.h,
# from the header's own comments, plus what docs/man/extra.txt adds (ERRORS wording, EXAMPLE,
# SEE ALSO...). Plain POSIX awk (mawk, Debian's default), so generating needs nothing that
# tools/setup.sh does not install.
#
#   awk -v outdir=DIR -v version=0.1.0 -v date=2026-12-03 [-v warnfile=FILE] \
#       -f hdr2man.awk extra.txt tothread.h
#
# Reading the header (the rules the header's comment style follows):
#   - "/* ===== NAME */" starts a section; the pages of one section refer to each other.
#   - A comment block at column 0 documents the run of declarations right after it (typedefs and
#     #defines may stand between). A declaration with a comment on its own line (trailing) uses
#     that instead. A block no declaration takes documents the typedefs of its run (shown on the
#     pages that use the type), else the trailing-commented declarations of its run, else — when a
#     blank line follows it — the whole section (shown under NOTES).
# Output: DIR/NAME.3 for each function, DIR/pages.list (NAME and "extern" or "inline"), and one
# "hdr2man: warning: ..." line on stderr (and in warnfile) for each thing a page would miss (a function with no
# description, an extra.txt entry naming no function); the CI check treats those as failures.

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function squash(s) { gsub(/[ \t]+/, " ", s); return trim(s) }
# Reading extra[] would create the element; this does not.
function x(key, field) { return ((key, field) in extra) ? extra[key, field] : "" }
function warn(msg) {
    print "hdr2man: warning: " msg > "/dev/stderr"
    if (warnfile != "") print "hdr2man: warning: " msg > warnfile
    nwarn++
}
BEGIN { if (warnfile != "") printf "" > warnfile }

# ---- roff escaping: backslashes, a leading dot or quote, minus signs that are not hyphens
function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/\342\200\224/, "\\(em", s)
    gsub(/\342\200\223/, "\\(en", s)
    gsub(/\342\206\222/, "\\(->", s)
    gsub(/\303\227/, "\\(mu", s)
    gsub(/-/, "\\-", s)
    # a hyphen between two letters is a hyphen (thread-safe), not a minus
    while (match(s, /[A-Za-z]\\-[a-z]/))
        s = substr(s, 1, RSTART) "-" substr(s, RSTART + 3)
    if (s ~ /^[.']/)
        s = "\\&" s
    return s
}
function esc_code(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    if (s ~ /^[.']/)
        s = "\\&" s
    return s
}
# Prose: escaped, and every name that has a page of its own set in bold.
function prose(s,    out, name) {
    s = esc(s)
    out = ""
    while (match(s, /tt_[a-z0-9_]+/)) {
        name = substr(s, RSTART, RLENGTH)
        out = out substr(s, 1, RSTART - 1)
        if (name in proto)
            out = out "\\fB" name "\\fR"
        else
            out = out name
        s = substr(s, RSTART + RLENGTH)
    }
    return out s
}
# One sentence a line (roff spaces sentences by line ends); "e.g. x" is not a sentence end.
function sentences(s,    out, i, rest, c) {
    out = ""
    rest = s
    while (match(rest, /[.!?] +[-A-Z0-9("]/)) {
        c = substr(rest, 1, RSTART)
        if (c ~ /(e\.g|i\.e|etc|vs)\.$/) {
            out = out substr(rest, 1, RSTART + RLENGTH - 2)
            rest = substr(rest, RSTART + RLENGTH - 1)
            continue
        }
        out = out c "\n"
        rest = substr(rest, RSTART + RLENGTH - 1)
    }
    return out rest
}
# Sentences one a line, each wrapped before 80 columns (roff fills the text anyway).
function emit_prose(s,    n, parts, i, line, w, nw, words, j) {
    n = split(sentences(s), parts, "\n")
    for (i = 1; i <= n; i++) {
        nw = split(prose(parts[i]), words, " ")
        line = ""
        for (j = 1; j <= nw; j++) {
            w = words[j]
            if (line != "" && length(line) + 1 + length(w) > 78) {
                print line > page
                line = ""
            }
            if (line == "" && w ~ /^[.']/) w = "\\&" w
            line = line (line == "" ? "" : " ") w
        }
        if (line != "") print line > page
    }
}
# Paragraphs under one heading, separated by .PP.
function emit_paragraph(s) {
    if (s == "") return
    if (para++) print ".PP" > page
    emit_prose(s)
}

# ================================================================ extra.txt (the first file)
# "== NAME" starts an entry (a function, "section:TITLE", or "errors" for the default wording of
# each error code); "-- FIELD" starts a field; the lines up to the next marker are its text.
FILENAME == ARGV[1] {
    if ($0 ~ /^#/ && field != "EXAMPLE")
        next
    if ($0 ~ /^== /) {
        key = trim(substr($0, 4)); field = ""; extra_key[key] = 1; next
    }
    if ($0 ~ /^-- /) {
        field = trim(substr($0, 4)); next
    }
    if (key == "" || (field == "" && key != "errors"))
        next
    if (field == "EXAMPLE") {
        extra[key, field] = extra[key, field] $0 "\n"
    } else if (field == "ERRORS" || key == "errors") {
        if (trim($0) == "")
            next
        code = $1; text = trim(substr(trim($0), length($1) + 1))
        if (key == "errors")
            err_default[code] = text
        else {
            err_text[key, code] = text
            err_order[key] = err_order[key] " " code
        }
    } else if (trim($0) != "") {
        extra[key, field] = extra[key, field] (extra[key, field] == "" ? "" : " ") trim($0)
    }
    next
}

# ===================================================================== the header
# The run: declarations following one comment block.
function run_end(    i, n, nm) {
    if (block != "" && !block_used) {
        if (run_ntypes > 0) {
            for (i = 1; i <= run_ntypes; i++)
                typedoc[run_type[i]] = block
        } else if (run_ndecls > 0) {
            for (i = 1; i <= run_ndecls; i++) {
                nm = run_decl[i]
                desc[nm] = block " " desc[nm]
            }
        } else if (section != "") {
            section_note[section] = section_note[section] (section_note[section] == "" ? "" : "\n") block
        }
    }
    block = ""; block_used = 0; run_ntypes = 0; run_ndecls = 0
}
# A line that is neither a declaration nor a comment ends a run that already has declarations.
function break_if_decls() { if (run_ndecls > 0) run_end() }

function add_decl(text, trailing,    name, inline) {
    text = squash(text)
    inline = (text ~ /^static inline/)
    match(text, /tt_[a-z0-9_]+\(/)
    name = substr(text, RSTART, RLENGTH - 1)
    if (name in proto) {
        warn(name " is declared twice; the second declaration is ignored")
        return
    }
    sub(/ *\{.*$/, ";", text) # an inline definition: its prototype only
    sub(/^static inline /, "", text)
    proto[name] = text
    kind[name] = inline ? "inline" : "extern"
    sect[name] = section
    order[++nfunc] = name
    sect_members[section] = sect_members[section] " " name
    if (trailing != "") {
        desc[name] = trailing
    } else if (block != "") {
        desc[name] = block
        block_used = 1
        group[name] = block_id
        group_members[block_id] = group_members[block_id] " " name
    }
    run_decl[++run_ndecls] = name
}

# Inside a multi-line comment, a typedef body, a declaration or an inline body.
state == "comment" {
    line = $0
    done = sub(/\*\/.*$/, "", line)
    sub(/^[ \t]*\*?/, "", line)
    ctext = ctext " " line
    if (done) {
        state = ""
        if (ctarget == "block") { block = squash(ctext); block_id++ }
        else if (ctarget == "trailing") add_decl(pending_decl, squash(ctext))
    }
    next
}
state == "typedef" {
    tdtext = tdtext "\n" $0
    if ($0 ~ /^}/) {
        state = ""
        nm = $0; sub(/^} */, "", nm); sub(/;.*$/, "", nm); nm = trim(nm)
        typedef_text[nm] = tdtext
        run_type[++run_ntypes] = nm
    }
    next
}
state == "decl" {
    decl = decl " " $0
    if (decl ~ /;/ || decl ~ /\{/) { state = ""; finish_decl() }
    next
}
state == "inline" {
    depth += gsub(/\{/, "{") - gsub(/\}/, "}")
    if (depth <= 0) state = ""
    next
}
function finish_decl(    rest, body, b, c) {
    b = index(decl, "{")
    if (b > 0 && (index(decl, ";") == 0 || b < index(decl, ";"))) {
        # an inline function: its prototype only, and its body skipped
        body = substr(decl, b)
        depth = gsub(/\{/, "{", body) - gsub(/\}/, "}", body)
        if (depth > 0) state = "inline"
        add_decl(decl, "")
        return
    }
    rest = substr(decl, index(decl, ";") + 1)
    decl = substr(decl, 1, index(decl, ";"))
    if (rest ~ /\/\*/) {
        c = substr(rest, index(rest, "/*") + 2)
        if (c ~ /\*\//) {
            sub(/\*\/.*$/, "", c)
            add_decl(decl, squash(c))
        } else {
            state = "comment"; ctarget = "trailing"; ctext = c; pending_decl = decl
        }
    } else {
        add_decl(decl, "")
    }
}

# The file's own opening comment (before the first section) is the overview: tothread(7).
/^\/\* =+ .* \*\/$/ {
    run_end()
    section = $0; sub(/^\/\* =+ /, "", section); sub(/ \*\/$/, "", section)
    nsect++; sect_title[nsect] = section
    next
}
/^[ \t]*$/ { run_end(); next }
/^\/\*/ {
    # a new block: whatever the previous one documented ends here
    run_end()
    line = $0; sub(/^\/\*/, "", line)
    if (line ~ /\*\//) {
        sub(/\*\/.*$/, "", line); block = squash(line); block_id++
    } else {
        state = "comment"; ctarget = "block"; ctext = line
    }
    next
}
/^#define TT_/ {
    break_if_decls()
    nm = $2; sub(/\(.*$/, "", nm)
    macro_text[nm] = squash($0)
    next
}
/^typedef / {
    break_if_decls()
    if ($0 ~ /\{/ && $0 !~ /\}/) {
        state = "typedef"; tdtext = $0
        next
    }
    # one line: "typedef struct tt_x tt_x;" is opaque (shown only if commented)
    line = $0
    c = ""
    if (line ~ /\/\*/) { c = substr(line, index(line, "/*") + 2); sub(/\*\/.*$/, "", c); sub(/[ \t]*\/\*.*$/, "", line) }
    nm = line
    if (nm ~ /\(\*/) { sub(/^[^(]*\(\*/, "", nm); sub(/\).*$/, "", nm) }
    else { sub(/;[ \t]*$/, "", nm); sub(/^.*[ *}]/, "", nm) }
    if (line ~ /^typedef struct [a-z_0-9]+ [a-z_0-9]+;/) {
        if (c != "") typedoc[nm] = squash(c)
    } else {
        typedef_text[nm] = line
        run_type[++run_ntypes] = nm
    }
    next
}
/^(static inline )?[A-Za-z_].*tt_[a-z0-9_]+\(/ {
    decl = $0
    if (decl ~ /;/ || decl ~ /\{/) finish_decl()
    else state = "decl"
    next
}
{ break_if_decls() }

# ================================================================ writing the pages
function effective_desc(name) {
    return ((name, "DESCRIPTION") in extra) ? extra[name, "DESCRIPTION"] : desc[name]
}
# The NAME line: the summary, or the description's first clause, within 78 columns.
function summary(name, d,    s, room) {
    if ((name, "SUMMARY") in extra)
        return extra[name, "SUMMARY"]
    s = sentences(d); sub(/\n.*$/, "", s)
    sub(/;.*$/, "", s); sub(/\.$/, "", s)
    room = 72 - length(name)
    if (length(s) > room) {
        s = substr(s, 1, room - 3); sub(/[ ,(][^ ]*$/, "", s); s = s "..."
    }
    return s
}
function is_return_sentence(s) {
    return s ~ /[Rr]eturn/ || s ~ /^(NULL|0|1|-E|0\/1|1\/0)[ ,:;.\/]/ || s ~ /^(A|The) .*, or (NULL|0|-E)/
}
function return_value(name,    r, n, parts, i, t, out) {
    if ((name, "RETURN") in extra) return extra[name, "RETURN"]
    n = split(sentences(desc[name]), parts, "\n")
    out = ""
    for (i = 1; i <= n; i++)
        if (is_return_sentence(parts[i]))
            out = out (out == "" ? "" : " ") parts[i]
    t = proto[name]
    r = t; sub(/tt_[a-z0-9_]+\(.*$/, "", r); r = trim(r)
    if (r == "void")
        return "None."
    if (r ~ /^tt_future \*/ && out !~ /NULL/) {
        if (desc[name] ~ /borrowed/)
            out = out (out == "" ? "" : " ") "The future is borrowed: no reference is handed over."
        else
            out = out (out == "" ? "" : " ") "A new reference that the caller owns: release it with tt_unref, or hand it to tt_await; NULL with errno set on failure."
    }
    if (out != "") return out
    if (r ~ /\*$/)
        return "A pointer on success; NULL with errno set on failure (see ERRORS)."
    if (r ~ /^(int|intptr_t|ssize_t)$/)
        return "A non-negative value on success (see DESCRIPTION); a negative error code on failure (see ERRORS)."
    return "See DESCRIPTION."
}
function see_also(name,    list, n, parts, i, seen, out, p, s) {
    if ((name, "SEE ALSO") in extra)
        list = x(name, "SEE ALSO")
    else
        list = ""
    if (name in group) list = list " " group_members[group[name]]
    list = list " " sect_members[sect[name]]
    n = split(list, parts, /[ ,]+/)
    out = ""
    seen[name] = 1
    for (i = 1; i <= n; i++) {
        p = parts[i]
        if (p == "" || (p in seen)) continue
        seen[p] = 1
        if (p ~ /\([0-9]\)$/) { s = p; sub(/^.*\(/, "", s); sub(/\)$/, "", s); sub(/\(.*$/, "", p) }
        else if (p in proto) s = 3
        else { warn(name ": SEE ALSO names " p ", which the header does not declare"); continue }
        out = out (out == "" ? "" : ",\n") ".BR " p " (" s ")"
    }
    return out (out == "" ? "" : ",\n") ".BR tothread (7)"
}
# Types and macros the prototype or the description mention, for the SYNOPSIS.
function synopsis_types(name,    s, out, t, seen, more, mname) {
    s = proto[name] " " desc[name] " " x(name, "DESCRIPTION")
    out = ""
    while (match(s, /tt_[a-z0-9_]+/)) {
        t = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        if ((t in typedef_text) && !(t in seen) && index(proto[name], t)) {
            seen[t] = 1
            out = out typedef_text[t] "\n"
            more = more " " typedef_text[t]
        }
    }
    s = proto[name] " " desc[name] " " more
    while (match(s, /TT_[A-Z0-9_]+/)) {
        mname = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        if ((mname in macro_text) && !(mname in seen)) {
            seen[mname] = 1
            out = macro_text[mname] "\n" out
        }
    }
    return out
}
function type_docs(name,    s, t, seen) {
    s = proto[name]
    while (match(s, /tt_[a-z0-9_]+/)) {
        t = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        if ((t in typedoc) && !(t in seen) && t != name) {
            seen[t] = 1
            emit_paragraph(t ": " typedoc[t])
        }
    }
}
function errors_of(name,    s, codes, c, n, parts, i, seen, out, t) {
    s = effective_desc(name) " " x(name, "RETURN")
    codes = err_order[name]
    while (match(s, /(^|[^A-Za-z0-9_])-?E[A-Z][A-Z][A-Z]+/)) {
        c = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        if (s ~ /^[A-Za-z0-9_]/) continue
        sub(/^[^E-]*/, "", c)
        if (c ~ /^-/) { c = substr(c, 2) }
        else if (!(c in err_default)) continue
        codes = codes " " c
    }
    n = split(codes, parts, " ")
    out = ""
    for (i = 1; i <= n; i++) {
        c = parts[i]
        if (c == "" || (c in seen)) continue
        seen[c] = 1
        if (((name, c) in err_text) && err_text[name, c] == "-") continue
        if ((name, c) in err_text) t = err_text[name, c]
        else if (c in err_default) t = err_default[c]
        else { warn(name ": no wording for error " c " (add it to \"== errors\" in extra.txt)"); t = "See DESCRIPTION." }
        out = out c "\t" t "\n"
    }
    return out
}
function write_page(name,    n, lines, i, up, ty, d, ex, notes, er) {
    para = 0
    page = outdir "/" name ".3"
    up = toupper(name)
    d = effective_desc(name)
    if (d == "") {
        warn(name ": no description (comment it in the header, or add DESCRIPTION to extra.txt)")
        d = "The header declares this call without a description."
    }
    print ".\\\" Generated from include/tothread.h and docs/man/extra.txt by docs/man/hdr2man.awk." > page
    print ".\\\" Edit those, not this file." > page
    print ".TH " up " 3 " date " \"tothread " version "\" \"tothread manual\"" > page
    print ".SH NAME" > page
    print name " \\- " esc(summary(name, d)) > page
    print ".SH SYNOPSIS" > page
    print ".nf" > page
    print ".B #include <tothread.h>" > page
    ty = synopsis_types(name)
    if (ty != "") {
        print ".PP" > page
        n = split(ty, lines, "\n")
        for (i = 1; i <= n; i++)
            if (lines[i] != "") print esc_code(lines[i]) > page
    }
    print ".PP" > page
    print ".B \"" esc_code(proto[name]) "\"" > page
    print ".fi" > page
    print ".PP" > page
    print "Link with \\fI\\-ltothread\\fR (pkg\\-config: \\fBtothread\\fR)." > page
    print ".SH DESCRIPTION" > page
    para = 0
    emit_paragraph(d)
    emit_paragraph(x(name, "MORE"))
    type_docs(name)
    print ".SH RETURN VALUE" > page
    emit_prose(return_value(name))
    er = errors_of(name)
    if (er != "") {
        print ".SH ERRORS" > page
        n = split(er, lines, "\n")
        for (i = 1; i < n; i++) {
            print ".TP\n.B " substr(lines[i], 1, index(lines[i], "\t") - 1) > page
            emit_prose(substr(lines[i], index(lines[i], "\t") + 1))
        }
    }
    notes = x(name, "NOTES") section_note[sect[name]] x("section:" sect[name], "NOTES")
    if (notes != "") {
        print ".SH NOTES" > page
        para = 0
        emit_paragraph(x(name, "NOTES"))
        n = split(section_note[sect[name]], lines, "\n")
        for (i = 1; i <= n; i++) emit_paragraph(lines[i])
        emit_paragraph(x("section:" sect[name], "NOTES"))
    }
    if ((name, "EXAMPLE") in extra) {
        print ".SH EXAMPLE" > page
        print ".EX" > page
        ex = x(name, "EXAMPLE")
        sub(/\n+$/, "", ex)
        n = split(ex, lines, "\n")
        for (i = 1; i <= n; i++) print esc_code(lines[i]) > page
        print ".EE" > page
    }
    print ".SH SEE ALSO" > page
    print see_also(name) > page
    close(page)
}

END {
    run_end()
    if (state != "")
        warn("the header ends inside a " state)
    if (nfunc == 0) {
        warn("no function declarations found")
        exit 1
    }
    for (k in extra_key) {
        if (k == "errors") continue
        if (k ~ /^section:/) {
            found = 0
            for (i = 1; i <= nsect; i++) if ("section:" sect_title[i] == k) found = 1
            if (!found) warn("extra.txt: " k " names no section of the header")
        } else if (!(k in proto)) {
            warn("extra.txt: " k " is not declared in the header")
        }
    }
    list = outdir "/pages.list"
    printf "" > list
    for (i = 1; i <= nfunc; i++) {
        write_page(order[i])
        print order[i] " " kind[order[i]] > list
    }
    close(list)
    if (nwarn > 0) printf "hdr2man: %d warning(s)\n", nwarn > "/dev/stderr"
}
