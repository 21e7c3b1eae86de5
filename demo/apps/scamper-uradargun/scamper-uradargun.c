/* scamper-uradargun: sends many probes to one destination (radargun alias resolution). */
#define APP_NAME "scamper-uradargun"
#define SCAMPER_PROBES 16
#include "apps/scamper-probe.h"
