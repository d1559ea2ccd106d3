/* Heap work: linked lists, realloc growth, qsort of strings, big allocations (mmap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; int value; char name[20]; };

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3000;
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *p = malloc(sizeof *p);
        p->value = i * 7919 % 1000;
        snprintf(p->name, sizeof p->name, "n%05d", (i * 31) % n);
        p->next = head;
        head = p;
    }
    long sum = 0;
    int count = 0;
    char **names = NULL;
    for (struct node *p = head; p; p = p->next) {
        sum += p->value;
        names = realloc(names, (count + 1) * sizeof *names);
        names[count++] = strdup(p->name);
    }
    qsort(names, count, sizeof *names, cmp);
    printf("sum=%ld first=%s last=%s mid=%s\n", sum, names[0], names[count - 1], names[count / 2]);
    char *big = malloc(4 << 20);
    memset(big, 0x5a, 4 << 20);
    big[12345] = 1;
    long s = 0;
    for (int i = 0; i < (4 << 20); i += 4096) s += big[i + 45];
    printf("big=%ld\n", s);
    free(big);
    while (head) { struct node *p = head->next; free(head); head = p; }
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
    return 0;
}
