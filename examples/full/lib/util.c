#include "common.h"
int util_twice(int x) { return x * UTIL_FACTOR; }
