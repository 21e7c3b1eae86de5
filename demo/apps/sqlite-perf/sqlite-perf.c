/* sqlite-perf: the sqlite application with 5000 rows. */
#define APP_NAME "sqlite-perf"
#define SQLITE_ROWS 5000
#include "apps/sqlite-app.h"
