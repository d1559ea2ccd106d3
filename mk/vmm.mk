# vmm: the KVM hypervisor (ember/kvm, ember/memory, ember/arch/x86, ember/vmm).
# Its demo boots the test guest (1 and 2 vCPUs), shows exit statistics and a
# two-stage address translation on a running VM, then boots the Debian kernel
# as far as this host's KVM allows (bounded by VMM_DEMO_LINUX_TIMEOUT seconds).

APT_PACKAGES += qemu-system-x86
VMM_DEMO_LINUX_TIMEOUT ?= 600

.PHONY: vmm-demo vmm-demo-guest vmm-demo-linux
DEMO += vmm-demo

vmm-demo: vmm-demo-guest vmm-demo-linux

vmm-demo-guest:
	@echo "== ember run --guest test:hello --stats"
	$(BIN)/ember run --guest test:hello --stats
	@echo "== ember run --guest test:smp --cpus 2 --stats"
	$(BIN)/ember run --guest test:smp --cpus 2 --stats
	@echo "== ember run --guest 'test:pio 5000' --stats"
	$(BIN)/ember run --guest 'test:pio 5000' --stats
	@echo "== two-stage translation on a running VM (ember inspect translate)"
	@sock=$$(mktemp -u /tmp/ember-demo.XXXXXX); \
	$(BIN)/ember run --guest test:tick --control $$sock --timeout 20 > /dev/null & pid=$$!; \
	for i in $$(seq 50); do [ -S $$sock ] && break; sleep 0.1; done; sleep 0.5; \
	$(BIN)/ember inspect translate --control $$sock 0x100000; \
	$(BIN)/ember inspect translate --control $$sock 0x3ffe123; \
	kill $$pid; wait $$pid || true

vmm-demo-linux:
	@echo "== Debian's cloud kernel on ember (bzImage, 64-bit boot protocol, 2 vCPUs via the ACPI MADT)"
	@echo "   On a software KVM this takes minutes and ends at the kernel's int3 self-test (see README);"
	@echo "   bounded at $(VMM_DEMO_LINUX_TIMEOUT) s. Once it prints, ember translates the kernel's rip."
	@log=$$(mktemp); sock=$$(mktemp -u /tmp/ember-linux.XXXXXX); \
	( $(BIN)/ember run --kernel $(IMAGES_CACHE)/kernel/latest/vmlinuz --initrd $(IMAGES_INITRAMFS) \
	    --memory 512M --cpus 2 --stats --control $$sock --timeout $(VMM_DEMO_LINUX_TIMEOUT) 2>&1 | tee $$log ) & \
	for i in $$(seq $(VMM_DEMO_LINUX_TIMEOUT)); do grep -q "Linux version" $$log && break; sleep 1; done; \
	if grep -q "Linux version" $$log && [ -S $$sock ]; then \
	  rip=$$($(BIN)/ember inspect regs --control $$sock --json | $(BIN)/python -c \
	        'import json, sys; print(hex(json.load(sys.stdin)["regs"]["rip"]))'); \
	  echo "== ember inspect translate (the kernel's rip, $$rip)"; \
	  $(BIN)/ember inspect translate --control $$sock $$rip || true; \
	fi; \
	wait; rm -f $$log
