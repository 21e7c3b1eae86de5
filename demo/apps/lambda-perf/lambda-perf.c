/* lambda-perf: a Lua function (the FaaS runtime) invoked many times through the C API. */
#include <string.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
#include "ukapp.h"
const char app_name[] = "lambda-perf";
static const char handler[] =
	"function handler(event)\n"
	"  local words, acc = {}, 0\n"
	"  for w in string.gmatch(event, '%a+') do words[#words + 1] = w:upper(); acc = acc + #w end\n"
	"  table.sort(words)\n"
	"  return table.concat(words, ','), acc\n"
	"end\n";

unsigned long app_main(const char **name)
{
	*name = app_name;
	lua_State *L = luaL_newstate();
	unsigned long h = 0;
	luaL_openlibs(L);
	if (luaL_dostring(L, handler))
		return 1;
	for (int i = 0; i < 200; i++) {
		size_t n;
		const char *s;
		lua_getglobal(L, "handler");
		lua_pushfstring(L, "event %d for the lambda function number %d", i, i % 7);
		lua_call(L, 1, 2);
		s = lua_tolstring(L, -2, &n);
		h = app_digest(h, s, n) + (unsigned long)lua_tointeger(L, -1);
		lua_pop(L, 2);
	}
	lua_close(L);
	return h;
}
