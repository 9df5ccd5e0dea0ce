#!/bin/sh
# check.sh NM LIBRARY MAN3_DIR WARNINGS_FILE — the section-3 pages match the library: every
# exported tt_* function has a page, every page (but those of header-inline functions) names an
# exported function, and the generator reported nothing missing. Prints what differs.
set -eu
nm=$1 lib=$2 dir=$3 warnings=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$nm" -D --defined-only "$lib" | awk '$2 ~ /^[TtWi]$/ && $3 ~ /^tt_/ { print $3 }' | sort -u >"$tmp/exported"
awk '$2 == "extern" { print $1 }' "$dir/pages.list" | sort -u >"$tmp/pages"
ls "$dir" | sed -n 's/\.3$//p' | sort -u >"$tmp/files"
status=0
if [ ! -s "$tmp/exported" ]; then
    echo "no tt_* function exported by $lib"; exit 1
fi
comm -23 "$tmp/exported" "$tmp/pages" >"$tmp/no_page"
comm -13 "$tmp/exported" "$tmp/pages" >"$tmp/no_symbol"
awk '{ print $1 }' "$dir/pages.list" | sort -u | comm -3 - "$tmp/files" >"$tmp/stray"
if [ -s "$tmp/no_page" ]; then
    echo "exported, but the header declares no such function (so no page):"; sed 's/^/  /' "$tmp/no_page"; status=1
fi
if [ -s "$tmp/no_symbol" ]; then
    echo "declared in the header (has a page), but not exported by $lib:"; sed 's/^/  /' "$tmp/no_symbol"; status=1
fi
if [ -s "$tmp/stray" ]; then
    echo "page files and the generator's list differ:"; sed 's/^/  /' "$tmp/stray"; status=1
fi
if [ -s "$warnings" ]; then
    echo "the page generator warned:"; cat "$warnings"; status=1
fi
if [ "$status" -eq 0 ]; then
    echo "$(wc -l <"$tmp/pages") pages, $(wc -l <"$tmp/exported") exported functions: they match"
fi
exit "$status"
