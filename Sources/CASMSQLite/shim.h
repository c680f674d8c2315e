#ifndef CASMSQLITE_SHIM_H
#define CASMSQLITE_SHIM_H

#include <sqlite3.h>

/// `SQLITE_TRANSIENT` is a macro casting -1 to a function pointer, which Swift
/// cannot import: SQLite copies the bound value before the call returns.
static inline sqlite3_destructor_type casm_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

/// `SQLITE_STATIC`: the caller keeps the bound buffer alive until the
/// statement is reset or rebound.
static inline sqlite3_destructor_type casm_sqlite_static(void) {
    return SQLITE_STATIC;
}

#endif
