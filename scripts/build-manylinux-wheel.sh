#!/usr/bin/env bash
# Builds the Python wheel as a manylinux2014 (glibc 2.17) wheel for x86_64 or aarch64, so that
# `pip install` works on cluster login nodes with an old glibc (CentOS 7, RHEL 8), not only on
# machines as new as the one that built it.
#
#   bash scripts/build-manylinux-wheel.sh                # for this machine, into target/wheels-manylinux
#   ARCH=aarch64 bash scripts/build-manylinux-wheel.sh   # cross-compiled for aarch64 (ARM) Linux
#   PROFILE=dev bash scripts/build-manylinux-wheel.sh    # faster, unoptimised
#
# How: every C and link step (the extension module, the wheel's `hpsearch` command, which is
# this crate's build script, and SQLite's C code) goes through `zig cc` targeting glibc 2.17
# (zig from PyPI's `ziglang`), in a build folder of its own. maturin's own `--zig` links only the
# extension module, and the command would then need the builder's glibc: the check at the end
# refuses any binary in the wheel that needs a glibc symbol newer than 2.17.
#
# Cross-compiling: the wheel's command is then not the build script (which runs on this
# machine) but the crate's own `hpsearch` binary built for the target first, handed to the build
# script in HPSEARCH_WHEEL_COMMAND (see python/build.rs); zig brings the target's glibc 2.17.
#
# Needs: Python 3 with venv, and the Rust toolchain (for another ARCH, `rustup target add`
# fetches that target's standard library); it installs maturin and ziglang in its own venv under
# target/.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${PROFILE:-release}"
host_arch="$(uname -m)"
arch="${ARCH:-$host_arch}"
case "$arch" in
  x86_64 | aarch64) ;;
  *) echo "error: ARCH=$arch: this script builds x86_64 or aarch64 wheels" >&2; exit 2 ;;
esac
work="$PWD/target/manylinux"
out="$PWD/target/wheels-manylinux"
mkdir -p "$work" "$out"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q --disable-pip-version-check 'maturin>=1.12.1,<2' 'ziglang==0.17.1'

# zig cc for glibc 2.17; cc-rs adds its own --target=..., which zig spells -target.
cat > "$work/zigcc" <<EOF
#!/bin/sh
for a in "\$@"; do
  shift
  case "\$a" in --target=*) ;; *) set -- "\$@" "\$a" ;; esac
done
exec "$work/venv/bin/python" -m ziglang cc -target $arch-linux-gnu.2.17 "\$@"
EOF
chmod +x "$work/zigcc"

target="${arch}-unknown-linux-gnu"
triple="${arch}_unknown_linux_gnu"
triple_upper="$(echo "$triple" | tr '[:lower:]' '[:upper:]')"
zig_env=(
  CARGO_TARGET_DIR="$work/target"
  "CARGO_TARGET_${triple_upper}_LINKER=$work/zigcc"
  "CC_${triple}=$work/zigcc"
)
cross=()
if [ "$arch" != "$host_arch" ]; then
  rustup target add "$target"
  env "${zig_env[@]}" cargo build --locked --profile "$profile" --target "$target" --bin hpsearch
  profile_dir="$profile"
  [ "$profile" = dev ] && profile_dir=debug
  cross=(--target "$target")
  zig_env+=("HPSEARCH_WHEEL_COMMAND=$work/target/$target/$profile_dir/hpsearch")
fi

rm -f "$out"/hpsearch-*"$arch".whl
env PATH="$work/venv/bin:$PATH" "${zig_env[@]}" \
  maturin build --profile "$profile" --compatibility manylinux2014 "${cross[@]}" \
  -m python/Cargo.toml --out "$out"

wheel="$(ls "$out"/hpsearch-*"$arch".whl)"
check="$work/check"
rm -rf "$check" && mkdir -p "$check"
"$work/venv/bin/python" -m zipfile -e "$wheel" "$check"
for binary in "$check"/hpsearch/_bin/hpsearch "$check"/hpsearch/_native*.so; do
  newest="$(objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
  if [ "$(printf '%s\n2.17\n' "$newest" | sort -V | tail -1)" != "2.17" ]; then
    echo "error: $(basename "$binary") in $wheel needs glibc $newest, newer than manylinux2014's 2.17" >&2
    exit 1
  fi
  echo "$(basename "$binary"): newest glibc symbol $newest"
done
echo "built $wheel"
