# Thin wrapper over meson/ninja for the two commands README starts with.
BUILD ?= build
PREFIX ?= /usr/local
DEMO_ROOT ?= demo-root

.PHONY: all demo test install clean

all:
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --prefix=$(PREFIX)
	ninja -C $(BUILD)

# Builds everything and runs a program from a directory inside a microVM
# (through the nested test host when this machine has no hardware KVM; its
# kernel is built and cached on first use, as for make test).
demo: all
	tools/mkdemoroot.sh $(DEMO_ROOT)
	KRUN_TEST_HOST_BUILD=1 tests/host/run-in-kvm-host --rw $(CURDIR) -- env KRUN_KRUNFW_PATH=$(BUILD)/krunfw/libkrunfw.so.5 \
		$(BUILD)/tools/krun $(DEMO_ROOT) /bin/sh -c 'uname -a; echo hello from the microVM'

test:
	tests/run-all

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
