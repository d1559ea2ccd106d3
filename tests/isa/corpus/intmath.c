/* Integer work: sieve, 64-bit multiply/divide, shifts, hashing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t fnv(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    while (n--) { h ^= *p++; h *= 1099511628211ull; }
    return h;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    unsigned char *sieve = calloc(n + 1, 1);
    int primes = 0;
    for (int i = 2; i <= n; i++) {
        if (sieve[i]) continue;
        primes++;
        for (long j = (long)i * i; j <= n; j += i) sieve[j] = 1;
    }
    printf("primes <= %d: %d, hash %016llx\n", n, primes, (unsigned long long)fnv(sieve, n + 1));
    int64_t acc = -7;
    uint64_t u = 0x9e3779b97f4a7c15ull;
    int32_t w = 123456789;
    for (int i = 1; i < n / 4; i++) {
        acc = acc * 6364136223846793005ll + i;
        u ^= u << 13; u ^= u >> 7; u ^= u << 17;
        acc += (int64_t)(u % (uint64_t)i) - (acc / (i | 1)) + (acc >> (i & 63));
        w = w * 1103515245 + 12345;
        w ^= (int32_t)((uint32_t)w >> (i & 31));
        acc ^= (int64_t)w / ((i & 7) + 1) + (int64_t)w % ((i & 15) + 1);
        acc += ((__int128)acc * (int64_t)u) >> 64;
        acc += (int64_t)(((unsigned __int128)u * (uint64_t)acc) >> 64);
    }
    printf("acc=%lld u=%llu w=%d\n", (long long)acc, (unsigned long long)u, w);
    printf("edge: %lld %lld %llu %d %d\n", (long long)(acc > 0),
           (long long)((acc | 1) / 3), (unsigned long long)(u / 3 % 1000), (-7) / 2, (-7) % 2);
    free(sieve);
    return 0;
}
