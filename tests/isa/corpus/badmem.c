/* Hostile: misaligned loads/stores (allowed in user mode), then a wild jump. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    static unsigned char buf[64];
    for (int i = 0; i < 64; i++) buf[i] = (unsigned char)(i * 37);
    volatile uint64_t *p = (volatile uint64_t *)(buf + 3);
    volatile uint32_t *q = (volatile uint32_t *)(buf + 9);
    printf("misaligned: %016llx %08x\n", (unsigned long long)*p, *q);
    *p = 0x1122334455667788ull;
    printf("after store: %02x %02x\n", buf[3], buf[10]);
    fflush(stdout);
    if (argc > 1) {
        void (*wild)(void) = (void (*)(void))(uintptr_t)0x40;
        wild();
    }
    return 0;
}
