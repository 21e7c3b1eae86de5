/* dns: a DNS server over lwIP answering A queries from a static zone, one round of lookups. */
#define APP_NAME "dns"
#define DNS_ROUNDS 1
#include "apps/dns-server.h"
