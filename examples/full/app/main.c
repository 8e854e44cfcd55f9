#include <stdio.h>
#include "common.h"
#include "greeting.h"

int main(void) {
#ifdef FAST
    const char *speed = "fast";
#else
    const char *speed = "slow";
#endif
    printf("%s: %d %s %d %s\n", GREETING, util_twice(21), text_name(), extra_value(), speed);
    return 0;
}
