/* dns-perf: the dns server under 100 rounds of lookups. */
#define APP_NAME "dns-perf"
#define DNS_ROUNDS 100
#include "apps/dns-server.h"
