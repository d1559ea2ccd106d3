/* Rounding modes and exception flags of every basic operation, float and double. */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
static const char *names[] = {"rne", "rtz", "rdn", "rup"};

static unsigned flags(void) {
    return (fetestexcept(FE_INEXACT) ? 1 : 0) | (fetestexcept(FE_UNDERFLOW) ? 2 : 0) |
           (fetestexcept(FE_OVERFLOW) ? 4 : 0) | (fetestexcept(FE_DIVBYZERO) ? 8 : 0) |
           (fetestexcept(FE_INVALID) ? 16 : 0);
}

static uint64_t bd(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t bf(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

volatile double D[] = {1.0, 3.0, -1e308, 1e308, 0x1p-1022, 0x1.8p-1070, -0.0, 2.5, 1e-300,
                       0.1, 7.0, -3.5e15, 1.5, 0.0};
volatile float F[] = {1.0f, 3.0f, -3e38f, 3e38f, 0x1p-126f, 0x1.8p-146f, -0.0f, 2.5f, 1e-30f,
                      0.1f, 7.0f, -3.5e9f, 1.5f, 0.0f};
#define N (sizeof D / sizeof D[0])

int main(int argc, char **argv) {
    volatile double nan = __builtin_nan("");
    int passes = argc > 1 ? atoi(argv[1]) : 1; /* the benchmark runs more passes */
    for (int pass = 0; pass < passes; pass++)
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        for (unsigned i = 0; i < N; i++) {
            for (unsigned j = 0; j < N; j += 3) {
                double a = D[i], b = D[j];
                float fa = F[i], fb = F[j];
                feclearexcept(FE_ALL_EXCEPT); double r1 = a + b; unsigned g1 = flags();
                feclearexcept(FE_ALL_EXCEPT); double r2 = a * b; unsigned g2 = flags();
                feclearexcept(FE_ALL_EXCEPT); double r3 = a / b; unsigned g3 = flags();
                feclearexcept(FE_ALL_EXCEPT); double r4 = fma(a, b, D[(i + j) % N]); unsigned g4 = flags();
                feclearexcept(FE_ALL_EXCEPT); float s1 = fa - fb; unsigned h1 = flags();
                feclearexcept(FE_ALL_EXCEPT); float s2 = fa * fb; unsigned h2 = flags();
                feclearexcept(FE_ALL_EXCEPT); float s3 = fa / fb; unsigned h3 = flags();
                feclearexcept(FE_ALL_EXCEPT); float s4 = fmaf(fa, fb, F[(i + j) % N]); unsigned h4 = flags();
                printf("%s %u %u d %016llx/%u %016llx/%u %016llx/%u %016llx/%u "
                       "s %08x/%u %08x/%u %08x/%u %08x/%u\n", names[m], i, j,
                       (unsigned long long)bd(r1), g1, (unsigned long long)bd(r2), g2,
                       (unsigned long long)bd(r3), g3, (unsigned long long)bd(r4), g4,
                       bf(s1), h1, bf(s2), h2, bf(s3), h3, bf(s4), h4);
            }
            double a = D[i];
            feclearexcept(FE_ALL_EXCEPT); double q = sqrt(a); unsigned gq = flags();
            feclearexcept(FE_ALL_EXCEPT); float fq = sqrtf(F[i]); unsigned hq = flags();
            feclearexcept(FE_ALL_EXCEPT); float nf = (float)a; unsigned gn = flags();
            feclearexcept(FE_ALL_EXCEPT); long li = lrint(a * 1e3); unsigned gl = flags();
            feclearexcept(FE_ALL_EXCEPT); int ii = (int)F[i]; unsigned gi = flags();
            feclearexcept(FE_ALL_EXCEPT); unsigned ui = (unsigned)(a * 10); unsigned gu = flags();
            feclearexcept(FE_ALL_EXCEPT); float fl = (float)(long)(a * 1e6 + 12345.0); unsigned gf = flags();
            feclearexcept(FE_ALL_EXCEPT); int lt = a < nan; unsigned gc = flags();
            printf("%s %u sqrt %016llx/%u %08x/%u cvt %08x/%u %ld/%u %d/%u %u/%u %08x/%u cmp %d/%u\n",
                   names[m], i, (unsigned long long)bd(q), gq, bf(fq), hq, bf(nf), gn, li, gl, ii, gi,
                   ui, gu, bf(fl), gf, lt, gc);
        }
    }
    return 0;
}
