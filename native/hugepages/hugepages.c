/*
 * A Node-API addon with one function, `adviseHugePages(buffer)`: madvise(MADV_HUGEPAGE) over an
 * ArrayBuffer's bytes, so that Linux backs them with 2 MiB transparent huge pages where the
 * system's THP mode is `madvise` (Debian's default) as well as `always`. Node has no binding for
 * madvise; src/hw/arena.ts calls this on the model's WebAssembly memory (docs/machine.md, "Huge
 * pages for the arena"). It changes how the simulating host maps the memory, never its contents.
 *
 * Returns 0, or the errno madvise set (EINVAL where the kernel has no THP). Throws a TypeError when
 * the argument is not an ArrayBuffer.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <node_api.h>

static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "adviseHugePages: the argument must be an ArrayBuffer");
    return NULL;
  }
  /* madvise wants a page-aligned start; the kernel itself keeps to the 2 MiB-aligned parts. */
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)data + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)data + length) & ~(page - 1);
  int error = 0;
  if (end > start && madvise((void *)start, end - start, MADV_HUGEPAGE) != 0) error = errno;
  napi_value result;
  napi_create_int32(env, error, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "adviseHugePages", fn) != napi_ok) return NULL;
  return exports;
}
