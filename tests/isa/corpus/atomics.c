/* A extension: AMOs and LR/SC loops through the GCC atomic builtins. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 500; /* the benchmark runs more rounds */
    static int32_t w = 5;
    static int64_t d = -9;
    static uint32_t uw = 0xfffffff0u;
    int64_t acc = 0;
    for (int i = 0; i < n; i++) {
        acc += __atomic_fetch_add(&w, i, __ATOMIC_SEQ_CST);
        acc ^= __atomic_fetch_xor(&d, (int64_t)i << 33, __ATOMIC_ACQ_REL);
        acc += __atomic_fetch_or(&uw, 1u << (i & 31), __ATOMIC_RELAXED);
        acc += __atomic_fetch_and(&d, ~((int64_t)1 << (i & 63)), __ATOMIC_SEQ_CST);
        int32_t expected = w;
        __atomic_compare_exchange_n(&w, &expected, expected * 3 + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        acc += __atomic_exchange_n(&d, d + i, __ATOMIC_SEQ_CST);
        acc += __atomic_add_fetch(&uw, 3, __ATOMIC_SEQ_CST) + __atomic_load_n(&w, __ATOMIC_SEQ_CST);
    }
    printf("w=%d d=%lld uw=%u acc=%lld\n", w, (long long)d, uw, (long long)acc);
    return 0;
}
