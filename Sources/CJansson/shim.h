#ifndef IGVM_MGR_CJANSSON_SHIM_H
#define IGVM_MGR_CJANSSON_SHIM_H

#include <jansson.h>

/* jansson exposes several operations only as function-like macros, which Swift
 * cannot import. These static inline functions give them a callable form. */

static inline json_type cjansson_typeof(const json_t *json) { return json_typeof(json); }
static inline json_t *cjansson_boolean(int value) { return json_boolean(value); }
static inline void cjansson_decref(json_t *json) { json_decref(json); }
static inline json_t *cjansson_incref(json_t *json) { return json_incref(json); }

#endif
