/* Deep and branchy recursion: fib, ackermann, hanoi, permutations. */
#include <stdio.h>
#include <stdlib.h>

static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static int ack(int m, int n) { return m == 0 ? n + 1 : n == 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1)); }
static long hanoi(int n, int a, int b, int c) { return n == 0 ? 0 : hanoi(n - 1, a, c, b) + 1 + hanoi(n - 1, c, b, a); }
static int depth(int n) { volatile char pad[64]; pad[n & 63] = n; return n == 0 ? pad[0] : depth(n - 1) + 1; }
static int perms(int *a, int k, int n) {
    if (k == n) return a[0] * 3 + a[n - 1];
    int s = 0;
    for (int i = k; i < n; i++) {
        int t = a[k]; a[k] = a[i]; a[i] = t;
        s += perms(a, k + 1, n);
        t = a[k]; a[k] = a[i]; a[i] = t;
    }
    return s;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 18;
    int a[7] = {1, 2, 3, 4, 5, 6, 7};
    printf("fib(%d)=%ld ack(2,%d)=%d hanoi=%ld depth=%d perms=%d\n", n, fib(n), n, ack(2, n),
           hanoi(n - 4, 1, 2, 3), depth(20000), perms(a, 0, 7));
    return (int)(fib(10) % 7);
}
