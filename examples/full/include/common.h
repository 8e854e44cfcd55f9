#ifndef COMMON_H
#define COMMON_H
int util_twice(int x);
const char *text_name(void);
int extra_value(void);
#endif
