/* File I/O through the host: create, write, seek, stat, read back, unlink. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: fileio PATH\n"); return 2; }
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror("fopen"); return 1; }
    for (int i = 0; i < 100; i++) fprintf(f, "line %d: %d\n", i, i * i);
    fclose(f);
    struct stat st;
    if (stat(argv[1], &st) != 0) { perror("stat"); return 1; }
    printf("size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    int fd = open(argv[1], O_RDONLY);
    char buf[64] = {0};
    lseek(fd, 20, SEEK_SET);
    ssize_t got = read(fd, buf, 30);
    printf("read %zd: [%.*s]\n", got, (int)strcspn(buf, "\n"), buf);
    off_t end = lseek(fd, 0, SEEK_END);
    close(fd);
    f = fopen(argv[1], "r");
    char line[64];
    int lines = 0;
    long total = 0;
    while (fgets(line, sizeof line, f)) { lines++; total += strlen(line); }
    fclose(f);
    printf("end=%lld lines=%d total=%ld\n", (long long)end, lines, total);
    printf("unlink=%d missing=%d\n", unlink(argv[1]), open(argv[1], O_RDONLY) < 0);
    return 0;
}
