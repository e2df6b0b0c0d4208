//! Real executables that break one loadability rule each, built here with zig, MinGW and
//! gcc (or cut from the real host-bin), for the loadability and verify tests. Each
//! builder writes into a directory named by its caller, so tests running side by side
//! never share one; `None` when a compiler is missing outside CI.

use std::fs;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};

use super::{require, target_dir};

fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn zig_cc_ready() -> bool {
    require(
        "zig",
        works("python3", &["-m", "ziglang", "version"]),
        "pip install ziglang (or bash .ci/install.sh)",
    )
}

pub fn mingw_ready() -> bool {
    require(
        "x86_64-w64-mingw32-gcc",
        works("x86_64-w64-mingw32-gcc", &["--version"]),
        "apt-get install gcc-mingw-w64-x86-64",
    )
}

pub fn gcc_ready() -> bool {
    require("gcc", works("gcc", &["--version"]), "apt-get install gcc")
}

/// An empty directory of the caller's own under `target/it/binaries`.
pub fn scratch(name: &str) -> Utf8PathBuf {
    let dir = target_dir("binaries").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn run_in(dir: &Utf8Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn zig_cc(dir: &Utf8Path, args: &[&str]) {
    let mut all = vec!["-m", "ziglang", "cc"];
    all.extend_from_slice(args);
    run_in(dir, "python3", &all);
}

/// A Mach-O for `target` (`aarch64-macos`, `x86_64-macos`) that loads a dylib with a
/// Homebrew install name, `/opt/homebrew/lib/libfoo.dylib`.
pub fn homebrew_macho(name: &str, target: &str) -> Option<Utf8PathBuf> {
    if !zig_cc_ready() {
        return None;
    }
    let dir = scratch(name);
    fs::write(dir.join("foo.c"), "int foo(void) { return 42; }\n").unwrap();
    fs::write(
        dir.join("main.c"),
        "int foo(void);\nint main(void) { return foo(); }\n",
    )
    .unwrap();
    let install_name = "-Wl,-install_name,/opt/homebrew/lib/libfoo.dylib";
    zig_cc(
        &dir,
        &[
            "-target",
            target,
            "-shared",
            "-o",
            "libfoo.dylib",
            "foo.c",
            install_name,
        ],
    );
    zig_cc(
        &dir,
        &["-target", target, "-o", "app", "main.c", "libfoo.dylib"],
    );
    Some(dir.join("app"))
}

/// An arm64 Mach-O whose minimum macOS is 15.0.
pub fn newer_macos(name: &str) -> Option<Utf8PathBuf> {
    if !zig_cc_ready() {
        return None;
    }
    let dir = scratch(name);
    fs::write(dir.join("hello.c"), "int main(void) { return 0; }\n").unwrap();
    zig_cc(
        &dir,
        &["-target", "aarch64-macos.15.0", "-o", "new", "hello.c"],
    );
    Some(dir.join("new"))
}

/// x86_64 PEs from MinGW: `threads.exe` imports libwinpthread-1.dll (`-pthread`),
/// `gui.exe` has the GUI subsystem (`-mwindows`). Returns the directory holding both.
pub fn mingw_exes(name: &str) -> Option<Utf8PathBuf> {
    if !mingw_ready() {
        return None;
    }
    let dir = scratch(name);
    fs::write(
        dir.join("threads.c"),
        "#include <pthread.h>\nstatic void *f(void *a) { return a; }\n\
         int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }\n",
    )
    .unwrap();
    fs::write(dir.join("hello.c"), "int main(void) { return 0; }\n").unwrap();
    let gcc = "x86_64-w64-mingw32-gcc";
    run_in(&dir, gcc, &["-pthread", "-o", "threads.exe", "threads.c"]);
    run_in(&dir, gcc, &["-mwindows", "-o", "gui.exe", "hello.c"]);
    Some(dir)
}

/// A dynamically linked ELF for this machine (gcc's default).
pub fn dynamic_elf(name: &str) -> Option<Utf8PathBuf> {
    if !gcc_ready() {
        return None;
    }
    let dir = scratch(name);
    fs::write(dir.join("hello.c"), "int main(void) { return 0; }\n").unwrap();
    run_in(&dir, "gcc", &["-o", "hello", "hello.c"]);
    Some(dir.join("hello"))
}

pub const LC_CODE_SIGNATURE: u32 = 0x1d;
pub const CPU_TYPE_X86_64: u32 = 0x0100_0007;
pub const CPU_TYPE_ARM64: u32 = 0x0100_000c;

/// Removes every load command `cmd` from a thin little-endian 64-bit Mach-O: the later
/// commands move up, ncmds and sizeofcmds shrink, the freed bytes become zero.
pub fn drop_load_command(macho: &[u8], cmd: u32) -> Vec<u8> {
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    assert_eq!(
        u32_at(macho, 0),
        0xfeed_facf,
        "a 64-bit little-endian Mach-O"
    );
    let (ncmds, sizeofcmds) = (u32_at(macho, 16), u32_at(macho, 20) as usize);
    let (mut kept, mut kept_n, mut at) = (Vec::new(), 0u32, 32);
    for _ in 0..ncmds {
        let size = u32_at(macho, at + 4) as usize;
        if u32_at(macho, at) != cmd {
            kept.extend_from_slice(&macho[at..at + size]);
            kept_n += 1;
        }
        at += size;
    }
    assert!(kept_n < ncmds, "no load command {cmd:#x} to drop");
    let mut out = macho.to_vec();
    out[16..20].copy_from_slice(&kept_n.to_le_bytes());
    out[20..24].copy_from_slice(&(kept.len() as u32).to_le_bytes());
    out[32..32 + sizeofcmds].fill(0);
    out[32..32 + kept.len()].copy_from_slice(&kept);
    out
}

/// A copy of a thin Mach-O with one byte of its `__text` section flipped, as a tool that
/// patches code after linking would leave it, and the file offset of that byte.
pub fn flip_text_byte(macho: &[u8]) -> (Vec<u8>, usize) {
    use object::read::macho::MachOFile64;
    use object::{Object, ObjectSection};
    let file = MachOFile64::<object::Endianness>::parse(macho).expect("a 64-bit Mach-O");
    let text = file.section_by_name("__text").expect("a __text section");
    let (offset, size) = text.file_range().expect("__text has file bytes");
    let at = usize::try_from(offset + size / 2).unwrap();
    let mut out = macho.to_vec();
    out[at] ^= 0x01;
    (out, at)
}

/// A universal binary: big-endian FAT_MAGIC header, then each slice aligned to 2^14.
pub fn fat(slices: &[(u32, &[u8])]) -> Vec<u8> {
    let align = 1usize << 14;
    let mut out = 0xcafe_babe_u32.to_be_bytes().to_vec();
    out.extend((slices.len() as u32).to_be_bytes());
    let mut offset = align;
    for (cputype, bytes) in slices {
        for word in [*cputype, 0, offset as u32, bytes.len() as u32, 14] {
            out.extend(word.to_be_bytes());
        }
        offset = (offset + bytes.len()).next_multiple_of(align);
    }
    for (_, bytes) in slices {
        out.resize(out.len().next_multiple_of(align), 0);
        out.extend_from_slice(bytes);
    }
    out
}
