/* sqlite: an in-memory database of 50 rows and an aggregate query. */
#define APP_NAME "sqlite"
#define SQLITE_ROWS 50
#include "apps/sqlite-app.h"
