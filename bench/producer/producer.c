/* The benchmark's log producer, run inside a busybox container.
 *
 *   producer RATE COUNT [PAD]
 *
 * Waits until /tmp/go exists (so the benchmark can subscribe first), then
 * prints COUNT lines "<seq> <wall-clock ns> <pad>\n" and finally
 * "END <COUNT>\n", then sleeps forever so the container stays up.
 * RATE > 0 paces the lines (absolute deadlines, one write per line, so each
 * line's time is when it left the process); RATE = 0 prints flat out through
 * a 64 KiB buffer, as a fast program would.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: producer RATE COUNT [PAD]\n");
        return 2;
    }
    long rate = atol(argv[1]);
    long long count = atoll(argv[2]);
    int pad = argc > 3 ? atoi(argv[3]) : 0;
    if (pad < 0 || pad > 4000) pad = 0;
    char padding[4001];
    memset(padding, 'x', (size_t)pad);
    padding[pad] = 0;

    while (access("/tmp/go", F_OK) != 0) usleep(10000);

    static char buf[1 << 16];
    if (rate <= 0) setvbuf(stdout, buf, _IOFBF, sizeof buf);
    long long start = now_ns(CLOCK_MONOTONIC);
    for (long long i = 1; i <= count; i++) {
        if (rate > 0) {
            long long due = start + i * 1000000000LL / rate;
            struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        printf("%lld %lld %s\n", i, now_ns(CLOCK_REALTIME), padding);
        if (rate > 0) fflush(stdout);
    }
    printf("END %lld\n", count);
    fflush(stdout);
    for (;;) pause();
}
