/* Directories: mkdir, create files, opendir/readdir (getdents64), sorted listing, cleanup. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: dirlist DIR\n"); return 2; }
    if (mkdir(argv[1], 0755) != 0) { perror("mkdir"); return 1; }
    char path[4096];
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof path, "%s/file-%02d-%s", argv[1], (i * 7) % 40, i % 3 ? "x" : "long-name-to-vary-record-sizes");
        FILE *f = fopen(path, "w");
        fprintf(f, "%d\n", i);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/subdir", argv[1]);
    mkdir(path, 0700);
    DIR *d = opendir(argv[1]);
    char *names[64];
    int n = 0, dirs = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        names[n++] = strdup(e->d_name);
        dirs += e->d_type == DT_DIR;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("%d entries, %d directories\n", n, dirs);
    for (int i = 0; i < n; i++) {
        printf("%s\n", names[i]);
        if (strcmp(names[i], ".") && strcmp(names[i], "..")) {
            snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
            if (strcmp(names[i], "subdir") == 0) rmdir(path); else unlink(path);
        }
        free(names[i]);
    }
    printf("rmdir=%d\n", rmdir(argv[1]));
    return 0;
}
