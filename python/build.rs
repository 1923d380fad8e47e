//! The `hpsearch` command of the wheel.
//!
//! This build script depends on the hpsearch crate, so its executable is the hpsearch command
//! line (`main` below): when cargo runs it to build this crate, it copies itself into `OUT_DIR`,
//! where maturin picks it up for the wheel (`include ... from = "out-dir"` in pyproject.toml);
//! when that copy runs, it is `hpsearch`, every subcommand included, and `std::env::current_exe`
//! names it, so the `hpsearch _wrap` and `hpsearch _coordinate` processes a search starts run
//! it too.
//!
//! Cargo builds the hpsearch crate once for both the extension module and this script when
//! both are built alike: pyproject.toml gives build scripts the optimisation of the profile
//! (`[tool.maturin] config`), so the command in the wheel is as fast as `cargo build --release`'s.
//! A build script runs on the machine that builds, so when cross-compiling (an aarch64 wheel
//! built on x86_64) this executable cannot be the command: the same crate's `hpsearch` binary,
//! built for the target by `cargo build --target`, is copied instead, from the path in
//! `HPSEARCH_WHEEL_COMMAND` (scripts/build-manylinux-wheel.sh sets it).

use std::path::{Path, PathBuf};

fn main() {
    let exe = std::env::current_exe().unwrap_or_default();
    let is_build_script = exe
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("build-script-"))
        && std::env::var_os("OUT_DIR").is_some();
    if is_build_script {
        install(&exe);
    } else {
        std::process::exit(hpsearch::cli::main());
    }
}

fn install(exe: &Path) {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HPSEARCH_WHEEL_COMMAND");
    let host = std::env::var("HOST").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    let command = if host == target {
        exe.to_path_buf()
    } else {
        match std::env::var_os("HPSEARCH_WHEEL_COMMAND") {
            Some(path) if Path::new(&path).is_file() => {
                let path = PathBuf::from(path);
                println!("cargo:rerun-if-changed={}", path.display());
                path
            }
            _ => panic!(
                "hpsearch-python: cross-compiling for {target} on {host}, so this build script \
                 cannot be the wheel's hpsearch command; build it with `cargo build --release \
                 --target {target} --bin hpsearch` and set HPSEARCH_WHEEL_COMMAND to the binary \
                 (scripts/build-manylinux-wheel.sh does both)"
            ),
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let copy = out.join("hpsearch");
    // A copy, not a link: the wheel must hold the file, and cargo may replace the script.
    let _ = std::fs::remove_file(&copy);
    if let Err(e) = std::fs::copy(&command, &copy) {
        panic!(
            "hpsearch-python: cannot copy {} to {}: {e}",
            command.display(),
            copy.display()
        );
    }
}
