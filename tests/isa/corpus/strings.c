/* glibc string and number formatting: snprintf, strtod, strtol, memcpy, strstr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 400;
    char buf[256], big[4096];
    unsigned long h = 5381;
    double dsum = 0;
    long lsum = 0;
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "%d|%x|%.3f|%-8s|%+e|%lu", i * 37 - 500, i * 7919,
                           i / 7.0, "abc" + (i % 3), i * 1.25e10, (unsigned long)i << 40);
        for (int k = 0; k < len; k++) h = h * 33 + (unsigned char)buf[k];
        char *end;
        dsum += strtod(buf + len - 15, &end);
        lsum += strtol(strchr(buf, '|') + 1, NULL, 16);
        memcpy(big + (i * 13) % 3000, buf, len);
        if (strstr(big, "|1f")) h ^= 1;
    }
    printf("h=%lu dsum=%.6e lsum=%ld cmp=%d len=%zu\n", h, dsum, lsum, memcmp(big, big + 7, 100) > 0,
           strlen(buf));
    return 0;
}
