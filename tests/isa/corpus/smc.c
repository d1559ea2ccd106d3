/* Self-modifying code: generate a function, run it, patch it, flush, run again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint32_t addi(int rd, int rs1, int imm) { return (uint32_t)(imm & 0xfff) << 20 | rs1 << 15 | rd << 7 | 0x13; }
#define RET 0x00008067u

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 40; /* the benchmark runs more rounds */
    uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 1; }
    long (*fn)(long) = (long (*)(long))code;
    long total = 0;
    for (int round = 1; round <= rounds; round++) {
        int k = (round - 1) % 1000 + 1; /* immediates stay within 12 bits */
        code[0] = addi(10, 10, k);
        code[1] = addi(10, 10, k * 2);
        code[2] = RET;
        __builtin___clear_cache((char *)code, (char *)(code + 3));
        long r = 0;
        for (int i = 0; i < 50; i++) r = fn(r);
        total += r;
    }
    printf("total=%ld\n", total);
    /* patch without changing the address: the classic stale-translation trap */
    code[0] = addi(10, 10, 1000);
    __builtin___clear_cache((char *)code, (char *)(code + 1));
    printf("patched=%ld\n", fn(1));
    return 0;
}
