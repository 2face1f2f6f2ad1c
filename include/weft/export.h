/* weft — symbol visibility for the public API. libweft is built with
 * hidden visibility; only what is marked WEFT_API is exported. */
#ifndef WEFT_EXPORT_H
#define WEFT_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#endif
