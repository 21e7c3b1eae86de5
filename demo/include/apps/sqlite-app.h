/*
 * The sqlite applications (sqlite, sqlite-perf): create an in-memory database, insert rows and run
 * an aggregate query. The including file defines APP_NAME and SQLITE_ROWS.
 */
#include <string.h>
#include "sqlite3.h"
#include "ukapp.h"
const char app_name[] = APP_NAME;
static unsigned long digest;

static int row(void *arg, int n, char **v, char **cols)
{
	(void)arg, (void)cols;
	for (int i = 0; i < n; i++)
		digest = app_digest(digest, v[i] ? v[i] : "NULL", strlen(v[i] ? v[i] : "NULL"));
	return 0;
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	sqlite3 *db;
	char sql[160];
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL)", 0, 0, 0);
	sqlite3_exec(db, "BEGIN", 0, 0, 0);
	for (int i = 0; i < SQLITE_ROWS; i++) {
		sqlite3_snprintf(sizeof(sql), sql, "INSERT INTO t(name, score) VALUES('user%d', %d.5)", i % 17, (i * 37) % 101);
		sqlite3_exec(db, sql, 0, 0, 0);
	}
	sqlite3_exec(db, "COMMIT", 0, 0, 0);
	sqlite3_exec(db, "SELECT name, count(*), printf('%.2f', avg(score)) FROM t GROUP BY name ORDER BY name", row, 0, 0);
	sqlite3_close(db);
	return digest;
}
