/* Hot integer loops: insertion sort, integer matrix multiply, a byte histogram. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define M 24

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 600;
    int32_t *a = malloc(n * sizeof *a);
    uint32_t seed = 12345;
    for (int i = 0; i < n; i++) { seed = seed * 1664525u + 1013904223u; a[i] = (int32_t)(seed >> 8) - (1 << 23); }
    for (int i = 1; i < n; i++) {
        int32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
    int64_t check = 0;
    for (int i = 0; i < n; i++) check = check * 31 + a[i];
    static int64_t x[M][M], y[M][M], z[M][M];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) { x[i][j] = i * j - 7; y[i][j] = (i + 3) * (j ^ 5); }
    for (int r = 0; r < n / 200 + 1; r++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < M; j++) {
                int64_t s = 0;
                for (int k = 0; k < M; k++) s += x[i][k] * y[k][j];
                z[i][j] = s + r;
            }
    unsigned hist[256] = {0};
    for (int i = 0; i < n * 50; i++) hist[(uint8_t)(a[i % n] ^ i)]++;
    unsigned hmax = 0;
    for (int i = 0; i < 256; i++) if (hist[i] > hmax) hmax = hist[i];
    printf("sorted %d: min=%d max=%d check=%lld z=%lld hmax=%u\n", n, a[0], a[n - 1],
           (long long)check, (long long)z[M - 1][M - 2], hmax);
    free(a);
    return 0;
}
