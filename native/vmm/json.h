/*
 * A minimal JSON reader for the image description files (`unimem image pool`): enough to walk
 * objects, arrays, strings without escapes beyond \" \\ \/ and integers. Values point into the
 * caller's buffer; nothing is allocated per value except the node array.
 */
#ifndef UNIMEM_VMM_JSON_H
#define UNIMEM_VMM_JSON_H
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	const char *str;          /* string: start (not NUL-terminated), key of an object member */
	size_t len;               /* string length */
	const char *key;          /* member name when inside an object */
	size_t key_len;
	double number;
	unsigned long long integer; /* exact value of a non-negative integer number */
	int children;             /* array or object: number of direct children */
	int next;                 /* index of the next sibling, or -1 */
	int first;                /* index of the first child, or -1 */
};

struct json_doc {
	struct json *nodes;
	int count, cap;
	const char *error;        /* first parse error, or NULL */
};

/* Parse text[0..len); returns the root index (0) or -1 with doc->error set. */
int json_parse(struct json_doc *doc, const char *text, size_t len);
/* Member `name` of object node `obj`, or NULL. */
const struct json *json_get(const struct json_doc *doc, const struct json *obj, const char *name);
/* Child i of an array, or NULL. */
const struct json *json_at(const struct json_doc *doc, const struct json *arr, int i);
void json_free(struct json_doc *doc);
#endif
