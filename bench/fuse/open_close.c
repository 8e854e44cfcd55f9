/* Times open(2) and close(2) of one file separately (medians, p10, p90):
 * the split behind the "open+close" row of bench/fuse/run.sh.
 * Build: gcc -O2 -o /tmp/oc bench/fuse/open_close.c
 * Traced: target/release/tupfs-fuse-bench --profile 'sh:/tmp/oc f.txt 20000' 1
 * Native: /tmp/oc FILE 20000 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 3 || atoi(argv[2]) < 10) {
        fprintf(stderr, "usage: %s FILE ITERATIONS(>=10)\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]);
    long long *o = malloc(n * sizeof *o), *c = malloc(n * sizeof *c);
    if (!o || !c)
        return 1;
    for (int i = 0; i < n; i++) {
        long long t0 = now();
        int fd = open(argv[1], O_RDONLY);
        long long t1 = now();
        if (fd < 0) {
            perror(argv[1]);
            return 1;
        }
        close(fd);
        o[i] = t1 - t0;
        c[i] = now() - t1;
    }
    qsort(o, n, sizeof *o, cmp);
    qsort(c, n, sizeof *c, cmp);
    printf("open median %.2f us p10 %.2f p90 %.2f; close median %.2f us p90 %.2f\n",
           o[n / 2] / 1e3, o[n / 10] / 1e3, o[n * 9 / 10] / 1e3, c[n / 2] / 1e3,
           c[n * 9 / 10] / 1e3);
    return 0;
}
