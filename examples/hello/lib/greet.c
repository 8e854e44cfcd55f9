#include <stdio.h>
#include "greet.h"
#include "version.h"

void greet(const char *who)
{
    printf("hello, %s (greet %s)\n", who, GREETING_VERSION);
}
