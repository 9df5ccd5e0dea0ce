/* Outcome codes to text, and the small string helper the error paths share. */
#include "internal.h"

#include <netdb.h>
#include <stdio.h>

const char *tt_strerror(intptr_t code)
{
    static _Thread_local char buf[64];
    if (code >= 0)
        return "success";
    if (code >= -4095) {
        const char *d = strerrordesc_np((int)-code);
        if (d)
            return d;
    }
    if (TT_IS_EAI(code))
        return gai_strerror((int)(code - TT_EAI_BASE)); /* the server toolkit's name lookups */
    snprintf(buf, sizeof buf, "error %ld", (long)code);
    return buf;
}

char *tt_strdup_or_null(const char *s)
{
    if (!s)
        return NULL;
    return strdup(s);
}
