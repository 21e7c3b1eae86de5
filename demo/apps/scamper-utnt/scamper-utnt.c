/* scamper-utnt: traces with growing TTLs and records tunnel hints (TNT). */
#define APP_NAME "scamper-utnt"
#define SCAMPER_PROBES 8
#include "apps/scamper-probe.h"
