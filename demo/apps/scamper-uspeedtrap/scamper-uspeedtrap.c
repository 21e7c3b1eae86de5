/* scamper-uspeedtrap: probes IPv4 identifiers to find router aliases (speedtrap). */
#define APP_NAME "scamper-uspeedtrap"
#define SCAMPER_PROBES 24
#include "apps/scamper-probe.h"
