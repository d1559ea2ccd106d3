# images: the Debian cloud kernel and ember's initramfs, fetched/built into the cache
# (ember/images/cache.py: $EMBER_CACHE_DIR, else $XDG_CACHE_HOME/ember, else ~/.cache/ember).
#
# busybox-static: the initramfs' only binary; cpio: tests read archives back with it;
# zstd/xz-utils: decompress .ko.zst/.ko.xz modules of newer Debian kernels;
# dpkg-dev's dpkg-deb comes with dpkg; apt downloads the package.
APT_PACKAGES += busybox-static cpio zstd xz-utils

IMAGES_CACHE := $(or $(EMBER_CACHE_DIR),$(if $(filter /%,$(XDG_CACHE_HOME)),$(XDG_CACHE_HOME)/ember,$(HOME)/.cache/ember))
IMAGES_KERNEL := $(IMAGES_CACHE)/kernel/latest/.complete
IMAGES_INITRAMFS := $(IMAGES_CACHE)/initramfs/default.cpio.gz

BUILD += images
.PHONY: images images-clean

images: $(IMAGES_INITRAMFS)

# The kernel is fetched once; 'ember image kernel' by hand picks up a newer Debian kernel.
$(IMAGES_KERNEL): | $(STAMP)/venv
	$(BIN)/ember image kernel

$(IMAGES_INITRAMFS): $(IMAGES_KERNEL) ember/images/initramfs.py ember/images/cpio.py | $(STAMP)/venv
	$(BIN)/ember image initramfs --out $@

images-clean:
	rm -rf $(IMAGES_CACHE)/kernel $(IMAGES_CACHE)/initramfs
