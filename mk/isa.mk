# isa: the RISC-V user-mode emulator (ember/isa). Cross-compiles the corpus of
# C test programs (tests/isa/corpus/*.c) into static RV64GC executables in
# build/isa/, which the tests and bench/isa.py run under every engine and
# under qemu-riscv64 as the reference.

APT_PACKAGES += gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-user

ISA_CC := riscv64-linux-gnu-gcc
ISA_CFLAGS := -static -O2 -Wall
ISA_CORPUS_SRC := $(sort $(wildcard tests/isa/corpus/*.c))
ISA_CORPUS := $(patsubst tests/isa/corpus/%.c,build/isa/%,$(ISA_CORPUS_SRC))

build/isa/%: tests/isa/corpus/%.c mk/isa.mk | $(STAMP)/apt
	@mkdir -p build/isa
	$(ISA_CC) $(ISA_CFLAGS) -o $@ $< -lm

.PHONY: isa-corpus isa-demo
isa-corpus: $(ISA_CORPUS)

isa-demo: isa-corpus
	@echo "== ember isa: a static RISC-V program, interpreted (hello exits with argc+40)"
	-$(BIN)/ember isa run --engine interp --stats build/isa/hello one two; echo "guest exit status: $$?"
	@echo "== the same kind of program under the translator, and under qemu-riscv64 for comparison"
	$(BIN)/ember isa run --engine dbt --stats build/isa/loops 1000
	qemu-riscv64 build/isa/loops 1000

BUILD += isa-corpus
DEMO += isa-demo
