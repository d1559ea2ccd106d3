/* platform.h - what the guest learns at boot: the PVH start info (memory
 * map, command line, RSDP) and the CPUs from the MP table or ACPI MADT. */
#ifndef EMBER_PLATFORM_H
#define EMBER_PLATFORM_H
#include "libcflat.h"
#include "layout.h"

#define XEN_HVM_START_MAGIC 0x336ec578
#define E820_RAM 1
#define MAX_MEMMAP 32
#define CMDLINE_MAX 256
#define MAX_ARGS 8

struct hvm_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;	/* version >= 1 */
	u32 memmap_entries;	/* version >= 1 */
	u32 reserved;
};

struct hvm_memmap_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
};

enum cpu_source { CPUS_DEFAULT, CPUS_MPTABLE, CPUS_MADT };

struct platform {
	u32 start_info_version;
	struct hvm_memmap_entry memmap[MAX_MEMMAP];
	unsigned memmap_entries;
	u64 ram_bytes;
	char cmdline[CMDLINE_MAX];
	char argbuf[CMDLINE_MAX];
	const char *argv[MAX_ARGS];
	int argc;
	u64 rsdp;		/* start_info.rsdp_paddr (0: none given) */
	u64 start_info;		/* where the VMM put struct hvm_start_info */
	u64 mptable_addr;	/* boot option mptable=ADDR, 0 if absent */
	bool mptable_off;	/* boot option mptable=off: CPUs from ACPI only */
	enum cpu_source cpu_source;
	unsigned cpus;		/* usable: at most MAX_CPUS */
	unsigned cpus_listed;	/* enabled CPUs in the table */
	u32 apic_ids[MAX_CPUS];
	u32 bsp_apic_id;
	unsigned uart_ioapic_pin;
};

extern struct platform platform;
extern char _image_start[], _end[];

/* false (with a message printed) if the start info is unusable. */
bool platform_init(const struct hvm_start_info *si);
const char *cpu_source_name(enum cpu_source s);
/* The largest RAM range above the guest image: [*start, *end). */
bool free_ram(u64 *start, u64 *end);
bool is_ram(u64 addr, u64 len);
#endif
