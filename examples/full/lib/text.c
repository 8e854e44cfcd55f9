#include "common.h"
const char *text_name(void) { return "text"; }
