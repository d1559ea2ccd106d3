/* argv, envp, printf and the exit code. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("hello from RISC-V, argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d] = %s\n", i, argv[i]);
    const char *v = getenv("EMBER_CORPUS");
    printf("EMBER_CORPUS=%s\n", v ? v : "(unset)");
    return argc + 40;
}
