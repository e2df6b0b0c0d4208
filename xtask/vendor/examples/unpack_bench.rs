//! How fast `vendor::archive::extract` unpacks a 50 MB member, per format, in the profile
//! `cargo xtask` runs in (dev, with the decoders' opt-level overrides from Cargo.toml):
//!
//!     cargo run -p xtask-vendor --example unpack_bench [-- DIR]
//!
//! The member is 35 MB of a real binary (this toolchain's `librustc_driver`) and 15 MB of
//! pseudo-random hex text; the archives are written by the system's `xz -6`, `gzip -6`
//! and `zip -6` (independent encoders), once, into DIR (default: a temp dir).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use xtask_vendor::archive::{extract, Format};

const MB: usize = 1_000_000;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("xtask-unpack-bench"));
    fs::create_dir_all(dir.join("src")).unwrap();
    let member = dir.join("src/tool");
    if !member.exists() {
        fs::write(&member, payload()).unwrap();
    }
    let tar = dir.join("bench.tar");
    let archives = [
        (
            "bench.tar.xz",
            Format::TarXz,
            vec!["xz", "-6", "-T1", "-k", "-f"],
        ),
        (
            "bench.tar.gz",
            Format::TarGz,
            vec!["gzip", "-6", "-k", "-f"],
        ),
        ("bench.zip", Format::Zip, vec![]),
    ];
    for (name, format, cmd) in &archives {
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        eprintln!("writing {} ...", path.display());
        if !tar.exists() {
            run(Command::new("tar")
                .args(["-cf", "bench.tar", "-C", "src", "tool"])
                .current_dir(&dir));
        }
        if *format == Format::Zip {
            run(Command::new("zip")
                .args(["-q", "-6", "-j", name, "src/tool"])
                .current_dir(&dir));
        } else {
            run(Command::new(cmd[0])
                .args(&cmd[1..])
                .arg(&tar)
                .current_dir(&dir));
        }
    }
    let size = fs::metadata(&member).unwrap().len() as f64;
    for (name, format, _) in archives {
        let path = dir.join(name);
        let best = (0..3)
            .map(|_| time(&path, format, &dir.join("out")))
            .fold(f64::INFINITY, f64::min);
        let packed = fs::metadata(&path).unwrap().len() as f64;
        println!(
            "{name}: {:.1} MB -> {:.1} MB in {best:.2} s, {:.0} MB/s (best of 3)",
            packed / MB as f64,
            size / MB as f64,
            size / best / MB as f64
        );
    }
}

fn time(archive: &Path, format: Format, out: &Path) -> f64 {
    let t = Instant::now();
    extract(archive, format, Some("tool"), out, u64::MAX / 2).unwrap();
    t.elapsed().as_secs_f64()
}

/// 35 MB of a real binary, then 15 MB of hex from a fixed-seed xorshift: as compressible
/// as a release archive's mix of code and data, and the same on every machine.
fn payload() -> Vec<u8> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let lib = Path::new(String::from_utf8(sysroot.stdout).unwrap().trim()).join("lib");
    let driver = fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("librustc_driver"))
        .expect("librustc_driver in the toolchain's lib/");
    let mut data = fs::read(driver).unwrap();
    data.truncate(35 * MB);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while data.len() < 50 * MB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.push(b"0123456789abcdef"[(x & 15) as usize]);
    }
    data
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}: {status}");
}
