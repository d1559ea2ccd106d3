# mk/guest.mk - ember's test guest (guest/): a freestanding x86-64 ELF with a
# PVH note, built with the system gcc; QEMU is the peer VMM its tests boot it in.

APT_PACKAGES += gcc binutils make qemu-system-x86

GUEST_ELF := guest/build/ember-test.elf
GUEST_SOURCES := $(wildcard guest/*.c guest/lib/*.[ch] guest/x86/*.[chS] guest/x86/*.lds \
	guest/scenarios/*.[ch]) guest/Makefile

BUILD += $(GUEST_ELF)

$(GUEST_ELF): $(GUEST_SOURCES)
	$(MAKE) --no-print-directory -C guest
