/* Floating point in float and double: series, sqrt, libm, conversions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    double pi = 0, e = 1, term = 1;
    float fs = 0;
    for (int k = 0; k < n; k++) {
        pi += (k & 1 ? -4.0 : 4.0) / (2 * k + 1);
        fs += 1.0f / ((float)k + 1.0f);
    }
    for (int k = 1; k < 20; k++) { term /= k; e += term; }
    printf("pi~%.17g e~%.17g harmonic(float)~%.9g\n", pi, e, fs);
    double x = 0.5;
    for (int i = 0; i < n / 10; i++) x = sqrt(x + 1.0) * 0.999 + fma(x, 0.25, -0.125);
    printf("x=%.17g sin=%.17g exp=%.17g log=%.17g\n", x, sin(x), exp(x), log(x + 2));
    float f = 3.3f;
    double d = -2.75;
    printf("conv: %d %ld %u %d %.9g %.17g\n", (int)f, (long)d, (unsigned)(f * 1e3f), (int)-0.5,
           (float)d / 3.0f, (double)f);
    printf("special: %g %g %g %d %d\n", 1.0 / 0.0, -1.0 / 0.0, sqrt(-1.0) * 0, isnan(0.0 / 0.0),
           (int)(fmin(-0.0, 0.0) == 0));
    volatile float tiny = 1e-40f;
    printf("subnormal: %.9g %.17g %a\n", tiny * 3.0f, 4.9e-324 * 7, 0x1p-1074 * 3);
    return 0;
}
