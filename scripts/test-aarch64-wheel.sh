#!/usr/bin/env bash
# Tests the aarch64 wheel on an x86_64 machine: installs it in a venv of an aarch64 CPython run
# under qemu's user-mode emulation and runs the package's pytest suite (python/tests) there,
# the `hpsearch` command of the wheel, its runs and the extension module all aarch64 code.
#
#   ARCH=aarch64 bash scripts/build-manylinux-wheel.sh   # the wheel, into target/wheels-manylinux
#   sudo bash scripts/test-aarch64-wheel.sh               # this test (about 10 minutes)
#
# Needs root on Debian (or Ubuntu): it installs qemu-user, registers qemu-aarch64 with the
# kernel's binfmt_misc (so that the aarch64 programs a search starts run emulated too), and takes
# CPython 3.11 and the C libraries it needs from Debian's arm64 packages into
# target/aarch64-sysroot, which the emulator reads as the root file system (QEMU_LD_PREFIX).
# The emulated pip installs pytest and pandas from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

wheel="$(ls target/wheels-manylinux/hpsearch-*aarch64.whl 2>/dev/null | head -1 || true)"
if [ -z "$wheel" ]; then
  echo "error: no aarch64 wheel in target/wheels-manylinux: build it first with" \
    "ARCH=aarch64 bash scripts/build-manylinux-wheel.sh" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: $0 installs packages and registers an emulator with the kernel: run it as root" >&2
  exit 2
fi

if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user qemu-user-binfmt
fi
binfmt=/proc/sys/fs/binfmt_misc
[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
[ -e "$binfmt/qemu-aarch64" ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"

sysroot="$PWD/target/aarch64-sysroot"
if [ ! -x "$sysroot/usr/bin/python3.11" ]; then
  dpkg --add-architecture arm64
  apt-get update -q
  debs="$(mktemp -d)"
  # CPython 3.11 with venv and ensurepip, and every library its standard modules load.
  (cd "$debs" && apt-get download \
    python3.11-minimal:arm64 libpython3.11-minimal:arm64 libpython3.11-stdlib:arm64 \
    python3.11-venv:arm64 python3-pip-whl python3-setuptools-whl \
    libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libffi8:arm64 libssl3:arm64 zlib1g:arm64 \
    libexpat1:arm64 libbz2-1.0:arm64 liblzma5:arm64 libsqlite3-0:arm64 libuuid1:arm64 \
    libncursesw6:arm64 libtinfo6:arm64 libreadline8:arm64 libdb5.3:arm64 libcrypt1:arm64 \
    libnsl2:arm64 libtirpc3:arm64 libgssapi-krb5-2:arm64 libkrb5-3:arm64 libk5crypto3:arm64 \
    libcom-err2:arm64 libkrb5support0:arm64 libkeyutils1:arm64)
  mkdir -p "$sysroot"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$sysroot"; done
  rm -rf "$debs"
fi
export QEMU_LD_PREFIX="$sysroot"

venv="$PWD/target/aarch64-venv"
rm -rf "$venv"
# --copies: a link to /usr/bin/python3.11 would name this machine's own interpreter.
"$sysroot/usr/bin/python3.11" -m venv --copies "$venv"
"$venv/bin/python" -c 'import platform, sys; assert platform.machine() == "aarch64", platform.machine()'
"$venv/bin/pip" install -q --disable-pip-version-check "$wheel" pytest pandas
file "$venv/bin/hpsearch" "$venv"/lib/python3.11/site-packages/hpsearch/_bin/hpsearch

# The cargo-built binary of this machine, when there is one, is what the emulated command's
# output is compared with (test_cli.py).
native=target/release/hpsearch
[ -x "$native" ] || native=target/debug/hpsearch
if [ -x "$native" ]; then export HPSEARCH_RUST_BINARY="$PWD/$native"; fi
"$venv/bin/pytest" -q -p no:cacheprovider -rs python/tests
