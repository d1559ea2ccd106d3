/*
 * platform.c - read the PVH start info and find the CPUs (ring 3).
 *
 * CPUs come from the Intel MP table when there is one (ember provides it),
 * else from the ACPI MADT (QEMU's microvm provides ACPI), else the guest
 * assumes one CPU.  Everything is copied out of guest memory at boot, so
 * later scenarios may reuse low memory (the AP trampoline does).
 */
#include "libcflat.h"
#include "apic.h"
#include "platform.h"

struct platform platform;

#define EBDA_SEG_PTR 0x40e
#define BASE_MEM_TOP_KB 0x413
#define BIOS_ROM_START 0xe0000
#define BIOS_ROM_END 0x100000
#define MP_FLOAT_SIG 0x5f504d5f		/* "_MP_" */
#define MP_CONFIG_SIG 0x504d4350	/* "PCMP" */
#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_LAST 4		/* local interrupt assignment */
#define MP_PROCESSOR_LEN 20
#define MP_OTHER_LEN 8
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define COM1_ISA_IRQ 4
#define MADT_LAPIC_ENABLED 0x01
#define MADT_LAPIC_ONLINE_CAPABLE 0x02
#define FOUR_GIB (4 * GiB)
#define MPTABLE_OPTION "mptable="

struct __packed mp_float {
	u32 signature;
	u32 config;
	u8 length;		/* in 16-byte units */
	u8 revision;
	u8 checksum;
	u8 features[5];
};

struct __packed mp_config {
	u32 signature;
	u16 length;
	u8 revision;
	u8 checksum;
	char oem[8];
	char product[12];
	u32 oem_table;
	u16 oem_table_size;
	u16 entries;
	u32 lapic;
	u16 ext_length;
	u8 ext_checksum;
	u8 reserved;
};

struct __packed acpi_rsdp {
	char signature[8];
	u8 checksum;
	char oem[6];
	u8 revision;
	u32 rsdt;
	u32 length;
	u64 xsdt;
	u8 ext_checksum;
	u8 reserved[3];
};

struct __packed acpi_header {
	char signature[4];
	u32 length;
	u8 revision;
	u8 checksum;
	char oem[6];
	char oem_table[8];
	u32 oem_revision;
	u32 creator;
	u32 creator_revision;
};

static u8 checksum(const void *p, size_t n)
{
	const u8 *b = p;
	u8 sum = 0;
	while (n--)
		sum += *b++;
	return sum;
}

const char *cpu_source_name(enum cpu_source s)
{
	switch (s) {
	case CPUS_MPTABLE:
		return "mptable";
	case CPUS_MADT:
		return "acpi";
	default:
		return "default";
	}
}

static void add_cpu(u32 apic_id, bool bsp)
{
	platform.cpus_listed++;
	if (platform.cpus >= MAX_CPUS)
		return;
	if (bsp && platform.cpus) {
		/* Keep the BSP first: the guest numbers CPUs in table order with
		 * the BSP as cpu 0. */
		platform.apic_ids[platform.cpus++] = platform.apic_ids[0];
		platform.apic_ids[0] = apic_id;
	} else {
		platform.apic_ids[platform.cpus++] = apic_id;
	}
}

/*
 * Entries are walked by the table's length, as Linux does (mpparse.c), not
 * by its entry count: some firmware (QEMU's qboot) leaves the count 0.  An
 * unknown entry type ends the walk since its size is unknown.
 */
static bool parse_mp_config(const struct mp_config *c)
{
	const u8 *p, *end;
	bool ioapic_found = false;
	if ((u64)c < 0x1000 || (u64)c + sizeof(*c) > FOUR_GIB || c->signature != MP_CONFIG_SIG ||
	    c->length < sizeof(*c) || checksum(c, c->length) != 0)
		return false;
	if (c->lapic)
		lapic_base = c->lapic;
	p = (const u8 *)(c + 1);
	end = (const u8 *)c + c->length;
	while (p < end) {
		if (p[0] == MP_ENTRY_PROCESSOR) {
			if (p + MP_PROCESSOR_LEN > end)
				break;
			if (p[3] & MP_CPU_ENABLED)
				add_cpu(p[1], p[3] & MP_CPU_BSP);
			p += MP_PROCESSOR_LEN;
		} else if (p[0] <= MP_ENTRY_LAST) {
			if (p + MP_OTHER_LEN > end)
				break;
			if (p[0] == MP_ENTRY_IOAPIC && (p[3] & 1) && !ioapic_found) {
				ioapic_base = *(const u32 *)(p + 4);	/* first: ISA IRQs */
				ioapic_found = true;
			}
			p += MP_OTHER_LEN;
		} else {
			break;
		}
	}
	return platform.cpus > 0;
}

static const struct mp_float *find_mp_float(u64 start, u64 len)
{
	for (u64 a = start; a + sizeof(struct mp_float) <= start + len; a += 16) {
		const struct mp_float *f = (const void *)a;
		if (f->signature == MP_FLOAT_SIG && f->length == 1 && checksum(f, 16) == 0)
			return f;
	}
	return NULL;
}

static bool find_mptable(void)
{
	u64 ebda = (u64)*(volatile u16 *)EBDA_SEG_PTR << 4;
	u64 base_top = (u64)*(volatile u16 *)BASE_MEM_TOP_KB * 1024;
	const struct mp_float *f = NULL;
	/* mptable=ADDR: the floating pointer is at ADDR (a test hook: QEMU's
	 * firmware writes its own table where the scan would look first). */
	if (platform.mptable_addr && platform.mptable_addr < 0x100000) {
		f = find_mp_float(platform.mptable_addr, 16);
		if (f && f->config && parse_mp_config((const void *)(u64)f->config))
			return true;
		f = NULL;
	}
	/* The three places of the MP spec: the EBDA's first KiB, the last KiB
	 * of base memory, the BIOS ROM.  0x9fc00 is tried even when the BDA is
	 * empty (VMMs without firmware often leave it zero). */
	if (ebda >= 0x80000 && ebda < 0xa0000)
		f = find_mp_float(ebda, 1024);
	if (!f && base_top >= 0x80000 && base_top <= 0xa0000)
		f = find_mp_float(base_top - 1024, 1024);
	if (!f)
		f = find_mp_float(0x9fc00, 1024);
	if (!f)
		f = find_mp_float(0xf0000, 0x10000);
	return f && f->config && parse_mp_config((const void *)(u64)f->config);
}

static u64 find_rsdp(void)
{
	u64 ebda = (u64)*(volatile u16 *)EBDA_SEG_PTR << 4;
	if (platform.rsdp)
		return platform.rsdp;
	for (u64 a = BIOS_ROM_START; a < BIOS_ROM_END; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && checksum((const void *)a, 20) == 0)
			return a;
	if (ebda >= 0x80000 && ebda < 0xa0000)
		for (u64 a = ebda; a < ebda + 1024; a += 16)
			if (!memcmp((const void *)a, "RSD PTR ", 8) &&
			    checksum((const void *)a, 20) == 0)
				return a;
	return 0;
}

static const struct acpi_header *acpi_table(u64 addr, const char *sig)
{
	const struct acpi_header *h = (const void *)addr;
	if (!addr || addr + sizeof(*h) > FOUR_GIB || memcmp(h->signature, sig, 4) ||
	    h->length < sizeof(*h) || addr + h->length > FOUR_GIB || checksum(h, h->length))
		return NULL;
	return h;
}

static const struct acpi_header *find_madt(void)
{
	const struct acpi_rsdp *r = (const void *)find_rsdp();
	const struct acpi_header *sdt;
	unsigned n, width;
	if (!r || (u64)r + sizeof(*r) > FOUR_GIB || memcmp(r->signature, "RSD PTR ", 8))
		return NULL;
	if (r->revision >= 2 && r->xsdt && (sdt = acpi_table(r->xsdt, "XSDT")))
		width = 8;
	else if ((sdt = acpi_table(r->rsdt, "RSDT")))
		width = 4;
	else
		return NULL;
	n = (sdt->length - sizeof(*sdt)) / width;
	for (unsigned i = 0; i < n; i++) {
		const u8 *e = (const u8 *)(sdt + 1) + i * width;
		u64 addr = width == 8 ? *(const u64 *)e : *(const u32 *)e;
		const struct acpi_header *t = acpi_table(addr, "APIC");
		if (t)
			return t;
	}
	return NULL;
}

static bool parse_madt(void)
{
	const struct acpi_header *m = find_madt();
	const u8 *p, *end;
	if (!m)
		return false;
	lapic_base = *(const u32 *)(m + 1);
	p = (const u8 *)(m + 1) + 8;	/* local APIC address, flags */
	end = (const u8 *)m + m->length;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == MADT_LAPIC && (*(const u32 *)(p + 4) & MADT_LAPIC_ENABLED))
			add_cpu(p[3], false);
		else if (p[0] == MADT_IOAPIC && *(const u32 *)(p + 8) == 0)
			ioapic_base = *(const u32 *)(p + 4);	/* the one with the ISA IRQs */
		else if (p[0] == MADT_ISO && p[3] == COM1_ISA_IRQ)
			platform.uart_ioapic_pin = *(const u32 *)(p + 4);
		p += p[1];
	}
	return platform.cpus > 0;
}

static void parse_cmdline(u64 paddr)
{
	char *s = platform.argbuf;
	unsigned i;
	if (paddr && paddr < FOUR_GIB) {
		const char *src = (const char *)paddr;
		for (i = 0; i < CMDLINE_MAX - 1 && src[i]; i++)
			platform.cmdline[i] = src[i];
		platform.cmdline[i] = '\0';
	}
	memcpy(platform.argbuf, platform.cmdline, CMDLINE_MAX);
	while (*s && platform.argc < MAX_ARGS) {
		const char *word;
		while (*s == ' ' || *s == '\t' || *s == '\n')
			*s++ = '\0';
		if (!*s)
			break;
		word = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		if (*s)
			*s++ = '\0';
		/* Words before the scenario name of the form key=value are boot
		 * options; the only one is mptable=ADDR|off (test hooks). */
		if (!platform.argc && !strncmp(word, MPTABLE_OPTION, sizeof(MPTABLE_OPTION) - 1)) {
			const char *v = word + sizeof(MPTABLE_OPTION) - 1;
			if (!strcmp(v, "off"))
				platform.mptable_off = true;
			else if (!parse_u64(v, &platform.mptable_addr))
				platform.mptable_addr = 0;
			continue;
		}
		platform.argv[platform.argc++] = word;
	}
}

bool platform_init(const struct hvm_start_info *si)
{
	u32 bsp;
	platform.uart_ioapic_pin = 4;
	if (!si || si->magic != XEN_HVM_START_MAGIC) {
		printf("ember-test: no PVH start info (ebx=%p): boot me through the PVH entry\n",
		       si);
		return false;
	}
	platform.start_info = (u64)si;
	platform.start_info_version = si->version;
	platform.rsdp = si->rsdp_paddr;
	parse_cmdline(si->cmdline_paddr);
	if (si->version >= 1 && si->memmap_paddr) {
		const struct hvm_memmap_entry *e = (const void *)si->memmap_paddr;
		platform.memmap_entries = MIN(si->memmap_entries, (u32)MAX_MEMMAP);
		for (unsigned i = 0; i < platform.memmap_entries; i++) {
			platform.memmap[i] = e[i];
			if (e[i].type == E820_RAM)
				platform.ram_bytes += e[i].size;
		}
	}
	if (!platform.mptable_off && find_mptable())
		platform.cpu_source = CPUS_MPTABLE;
	else if (parse_madt())
		platform.cpu_source = CPUS_MADT;
	bsp = lapic_id();
	if (!platform.cpus)
		add_cpu(bsp, true);
	platform.bsp_apic_id = bsp;
	/* Whatever the table said, the BSP (cpu 0) is the CPU running this. */
	for (unsigned i = 1; i < platform.cpus; i++)
		if (platform.apic_ids[i] == bsp) {
			platform.apic_ids[i] = platform.apic_ids[0];
			platform.apic_ids[0] = bsp;
		}
	return true;
}

bool is_ram(u64 addr, u64 len)
{
	for (unsigned i = 0; i < platform.memmap_entries; i++) {
		const struct hvm_memmap_entry *e = &platform.memmap[i];
		if (e->type == E820_RAM && addr >= e->addr && addr + len <= e->addr + e->size)
			return true;
	}
	return false;
}

bool free_ram(u64 *start, u64 *end)
{
	u64 best = 0, lo = (u64)_end;
	for (unsigned i = 0; i < platform.memmap_entries; i++) {
		const struct hvm_memmap_entry *e = &platform.memmap[i];
		u64 s = MAX(e->addr, lo), t = MIN(e->addr + e->size, FOUR_GIB);
		s = ALIGN_UP(s, 4096);
		t &= ~4095UL;
		if (e->type != E820_RAM || t <= s || t - s <= best)
			continue;
		best = t - s;
		*start = s;
		*end = t;
	}
	return best != 0;
}
