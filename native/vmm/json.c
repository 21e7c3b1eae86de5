/* See json.h. Recursive descent over a node array; depth is bounded by the description's shape. */
#include "json.h"
#include <stdlib.h>
#include <string.h>

struct parser {
	struct json_doc *doc;
	const char *p, *end;
	int depth;
};

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

static int fail(struct parser *ps, const char *msg)
{
	if (!ps->doc->error)
		ps->doc->error = msg;
	return -1;
}

static int new_node(struct parser *ps, enum json_type t)
{
	struct json_doc *d = ps->doc;
	if (d->count == d->cap) {
		int cap = d->cap ? d->cap * 2 : 256;
		struct json *n = realloc(d->nodes, (size_t)cap * sizeof *n);
		if (!n)
			return fail(ps, "out of memory");
		d->nodes = n;
		d->cap = cap;
	}
	memset(&d->nodes[d->count], 0, sizeof d->nodes[0]);
	d->nodes[d->count].type = t;
	d->nodes[d->count].next = -1;
	d->nodes[d->count].first = -1;
	return d->count++;
}

static int parse_string(struct parser *ps, const char **s, size_t *len)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return fail(ps, "expected a string");
	const char *start = ++ps->p;
	while (ps->p < ps->end && *ps->p != '"') {
		if (*ps->p == '\\')
			ps->p++;
		ps->p++;
	}
	if (ps->p >= ps->end)
		return fail(ps, "unterminated string");
	*s = start;
	*len = (size_t)(ps->p - start);
	ps->p++;
	return 0;
}

static int parse_value(struct parser *ps);

static int parse_container(struct parser *ps, int is_object)
{
	int idx = new_node(ps, is_object ? JSON_OBJECT : JSON_ARRAY);
	int last = -1;
	char close = is_object ? '}' : ']';
	if (idx < 0)
		return -1;
	if (++ps->depth > 32)
		return fail(ps, "nested too deeply");
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return idx;
	}
	for (;;) {
		const char *key = NULL;
		size_t key_len = 0;
		skip_ws(ps);
		if (is_object) {
			if (parse_string(ps, &key, &key_len) < 0)
				return -1;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, "expected ':'");
			ps->p++;
		}
		int child = parse_value(ps);
		if (child < 0)
			return -1;
		ps->doc->nodes[child].key = key;
		ps->doc->nodes[child].key_len = key_len;
		if (last < 0)
			ps->doc->nodes[idx].first = child;
		else
			ps->doc->nodes[last].next = child;
		last = child;
		ps->doc->nodes[idx].children++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return idx;
		}
		return fail(ps, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int parse_value(struct parser *ps)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of input");
	char c = *ps->p;
	if (c == '{' || c == '[')
		return parse_container(ps, c == '{');
	if (c == '"') {
		int idx = new_node(ps, JSON_STRING);
		if (idx < 0)
			return -1;
		const char *s;
		size_t len;
		if (parse_string(ps, &s, &len) < 0)
			return -1;
		ps->doc->nodes[idx].str = s;
		ps->doc->nodes[idx].len = len;
		return idx;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		int idx = new_node(ps, JSON_NUMBER);
		if (idx < 0)
			return -1;
		char buf[64];
		size_t n = 0;
		while (ps->p < ps->end && n < sizeof buf - 1 && strchr("-+.eE0123456789", *ps->p))
			buf[n++] = *ps->p++;
		buf[n] = 0;
		ps->doc->nodes[idx].number = strtod(buf, NULL);
		ps->doc->nodes[idx].integer = buf[0] == '-' ? 0 : strtoull(buf, NULL, 10);
		return idx;
	}
	static const struct { const char *word; enum json_type t; } words[] = { { "true", JSON_BOOL }, { "false", JSON_BOOL }, { "null", JSON_NULL } };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i].word);
		if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[i].word, n) == 0) {
			int idx = new_node(ps, words[i].t);
			if (idx < 0)
				return -1;
			ps->doc->nodes[idx].integer = i == 0;
			ps->p += n;
			return idx;
		}
	}
	return fail(ps, "unexpected character");
}

int json_parse(struct json_doc *doc, const char *text, size_t len)
{
	struct parser ps = { doc, text, text + len, 0 };
	memset(doc, 0, sizeof *doc);
	if (parse_value(&ps) < 0)
		return -1;
	skip_ws(&ps);
	if (ps.p != ps.end)
		return fail(&ps, "trailing characters after the value");
	return 0;
}

const struct json *json_get(const struct json_doc *doc, const struct json *obj, const char *name)
{
	size_t n = strlen(name);
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (int i = obj->first; i >= 0; i = doc->nodes[i].next)
		if (doc->nodes[i].key_len == n && memcmp(doc->nodes[i].key, name, n) == 0)
			return &doc->nodes[i];
	return NULL;
}

const struct json *json_at(const struct json_doc *doc, const struct json *arr, int i)
{
	if (!arr || arr->type != JSON_ARRAY)
		return NULL;
	for (int k = arr->first; k >= 0; k = doc->nodes[k].next, i--)
		if (i == 0)
			return &doc->nodes[k];
	return NULL;
}

void json_free(struct json_doc *doc)
{
	free(doc->nodes);
	doc->nodes = NULL;
	doc->count = doc->cap = 0;
}
