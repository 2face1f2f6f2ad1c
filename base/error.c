/* Error messages and names, generated from WEFT_ERRNO_MAP. */
#include "weft/error.h"

const char *weft_strerror(int err)
{
    switch (err) {
    case 0: return "success";
#define WEFT__ERR_MSG(name, value, msg)                                                                                \
    case value: return msg;
        WEFT_ERRNO_MAP(WEFT__ERR_MSG)
#undef WEFT__ERR_MSG
    default: return "unknown error";
    }
}

const char *weft_err_name(int err)
{
    switch (err) {
    case 0: return "OK";
#define WEFT__ERR_NAME(name, value, msg)                                                                               \
    case value: return #name;
        WEFT_ERRNO_MAP(WEFT__ERR_NAME)
#undef WEFT__ERR_NAME
    default: return "UNKNOWN";
    }
}
