/*
 * libcflat.h - the freestanding C library of ember's test guest.
 *
 * Named after kvm-unit-tests' lib/libcflat.h: fixed-width types, string
 * helpers, printf and the report()/report_summary() verbs.  Everything here
 * runs in ring 3 (except where a comment says otherwise) because the host's
 * KVM emulates ring-0 code instruction by instruction (see docs/guest.md).
 */
#ifndef EMBER_LIBCFLAT_H
#define EMBER_LIBCFLAT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long s64;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_arg(ap, type) __builtin_va_arg(ap, type)
#define va_end(ap) __builtin_va_end(ap)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((u64)(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define KiB 1024UL
#define MiB (1024UL * KiB)
#define GiB (1024UL * MiB)
#define NS_PER_MS 1000000UL
#define NS_PER_SEC 1000000000UL

#define __noreturn __attribute__((noreturn))
#define __packed __attribute__((packed))
#define barrier() asm volatile("" ::: "memory")
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* Exit statuses written to the debug-exit port (guest/README in docs/guest.md). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2     /* unknown scenario or bad arguments */
#define EXIT_EXCEPTION 3 /* an unexpected CPU exception (e.g. the `ud` scenario) */

/* string.c */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
bool parse_u64(const char *s, u64 *out);

/* printf.c */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void puts_raw(const char *s, size_t n);

/* report.c */
void report(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int report_summary(void);

/* io.c: leave the VM through the debug-exit port. */
void __noreturn exit(int status);

#endif
