//! Loadability: will this host binary start on the OS Docker Desktop runs it on?
//!
//! Format and CPU are not enough: Apple silicon kills unsigned
//! arm64 code, a dylib outside the OS is missing on the user's Mac, a MinGW DLL is missing
//! on a stock Windows, a GUI-subsystem exe has no console for Docker Desktop to read, a
//! binary built for a newer OS than the user's refuses to start, and a dynamic ELF has no
//! loader to run it. [`check`] reads the headers and load commands (through `object`, which
//! bounds-checks every read) and lists every such problem.
//!
//! A leaf: nothing from the crate, no I/O. Any bytes yield a [`Report`], never a panic.

use std::fmt;

use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endian, Endianness};

mod mach;
mod pe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostOs {
    Darwin,
    Windows,
    Linux,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cpu {
    X86_64,
    Aarch64,
}

/// The oldest OS versions the binaries must start on (major, minor). A binary whose
/// minimum OS is newer than these fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floors {
    pub macos: (u32, u32),
    pub windows: (u16, u16),
}

/// Docker Desktop supports "the current and two previous major macOS releases"
/// (https://docs.docker.com/desktop/setup/install/mac-install/); 4.48.0's release notes
/// (https://github.com/docker/docs/pull/23541) say 13 is dropped and 14 is required from
/// the next release. Rust's own minimums are lower (aarch64-apple-darwin 11.0, x86_64
/// 10.12) and zig 0.14 writes 13.0, so a default build passes. Raise it each autumn.
pub const DEFAULT_MACOS_FLOOR: (u32, u32) = (14, 0);

/// Windows 10 22H2 (build 19045) is the oldest Docker Desktop lists
/// (https://docs.docker.com/desktop/setup/install/windows-install/). PE headers carry
/// only major.minor, and Windows 10 and 11 are both 10.0.
pub const DEFAULT_WINDOWS_FLOOR: (u16, u16) = (10, 0);

impl Default for Floors {
    fn default() -> Self {
        Floors {
            macos: DEFAULT_MACOS_FLOOR,
            windows: DEFAULT_WINDOWS_FLOOR,
        }
    }
}

/// What the binary is ("Mach-O universal (x86_64, arm64)", "PE AMD64", "ELF AArch64") and
/// everything that would stop it loading; empty `problems` means loadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub format: String,
    pub problems: Vec<Problem>,
}

/// One failed rule. Displays as `rule: expected X, found Y`; callers prefix variant and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub rule: &'static str,
    pub expected: String,
    pub found: String,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.rule, self.expected, self.found
        )
    }
}

impl fmt::Display for HostOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostOs::Darwin => "darwin",
            HostOs::Windows => "windows",
            HostOs::Linux => "linux",
        })
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cpu::X86_64 => "x86_64",
            Cpu::Aarch64 => "aarch64",
        })
    }
}

fn problem(rule: &'static str, expected: impl Into<String>, found: impl Into<String>) -> Problem {
    Problem {
        rule,
        expected: expected.into(),
        found: found.into(),
    }
}

/// Checks `bytes` as the executable Docker Desktop would run on `os` with `cpu`.
pub fn check(bytes: &[u8], os: HostOs, cpu: Cpu, floors: &Floors) -> Report {
    let mut out = Vec::new();
    let format = match (sniff(bytes), os) {
        (Some(Kind::MachO | Kind::Fat32 | Kind::Fat64), HostOs::Darwin) => {
            mach::check(bytes, cpu, floors, &mut out)
        }
        (Some(Kind::Pe), HostOs::Windows) => pe::check(bytes, cpu, floors, &mut out),
        (Some(Kind::Elf), HostOs::Linux) => check_elf(bytes, cpu, &mut out),
        (Some(kind), _) => {
            out.push(problem("format", os_format(os), kind.name()));
            Ok(kind.name().to_owned())
        }
        (None, _) => {
            let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            let found = match head.is_empty() {
                true => "not an executable (empty file)".to_owned(),
                false => format!("not an executable (starts {})", head.join(" ")),
            };
            out.push(problem("format", os_format(os), found));
            Ok("not an executable".to_owned())
        }
    };
    let format = format.unwrap_or_else(|(name, err)| {
        out.push(problem(
            "format",
            format!("a well-formed {name}"),
            format!("malformed {name} ({err})"),
        ));
        name.to_owned()
    });
    Report {
        format,
        problems: out,
    }
}

/// A parse failure: which format, and why.
type Parsed<T> = Result<T, (&'static str, Bad)>;

/// Why a header could not be read: `object`'s message or ours.
#[derive(Debug)]
struct Bad(String);

impl From<object::Error> for Bad {
    fn from(e: object::Error) -> Self {
        Bad(e.to_string())
    }
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn os_format(os: HostOs) -> &'static str {
    match os {
        HostOs::Darwin => "Mach-O",
        HostOs::Windows => "PE",
        HostOs::Linux => "ELF",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MachO,
    Fat32,
    Fat64,
    Pe,
    Elf,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::MachO => "Mach-O",
            Kind::Fat32 | Kind::Fat64 => "Mach-O universal",
            Kind::Pe => "PE",
            Kind::Elf => "ELF",
        }
    }
}

fn sniff(bytes: &[u8]) -> Option<Kind> {
    let magic = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    Some(match magic {
        0x7f45_4c46 => Kind::Elf,
        0xfeed_face | 0xfeed_facf | 0xcefa_edfe | 0xcffa_edfe => Kind::MachO,
        object::macho::FAT_MAGIC => Kind::Fat32,
        object::macho::FAT_MAGIC_64 => Kind::Fat64,
        _ if bytes.starts_with(b"MZ") => Kind::Pe,
        _ => return None,
    })
}

fn truncated(end: u64, len: usize, what: &str, slice: Option<&str>) -> Problem {
    let mut found = format!("{len} bytes");
    if let Some(s) = slice {
        found += &format!(" in the {s} slice");
    }
    let expected = format!("{end} bytes (where the last {what} ends)");
    problem("size", expected, found)
}

fn check_elf(bytes: &[u8], want: Cpu, out: &mut Vec<Problem>) -> Parsed<String> {
    if bytes.get(4) == Some(&elf::ELFCLASS32.0) {
        let expected = elf_cpu(want);
        out.push(problem("cpu", format!("64-bit {expected}"), "32-bit ELF"));
        return Ok("ELF 32-bit".to_owned());
    }
    elf_rules(bytes, want, out).map_err(|e| ("ELF", e))
}

fn elf_cpu(cpu: Cpu) -> &'static str {
    match cpu {
        Cpu::X86_64 => "x86-64",
        Cpu::Aarch64 => "AArch64",
    }
}

fn elf_rules(bytes: &[u8], want: Cpu, out: &mut Vec<Problem>) -> Result<String, Bad> {
    let header = FileHeader64::<Endianness>::parse(bytes)?;
    let e = header.endian()?;
    let mut name = match header.e_machine(e) {
        elf::EM_X86_64 => elf_cpu(Cpu::X86_64).to_owned(),
        elf::EM_AARCH64 => elf_cpu(Cpu::Aarch64).to_owned(),
        elf::EM_RISCV => "RISC-V".to_owned(),
        elf::EM_PPC64 => "PowerPC64".to_owned(),
        elf::EM_S390 => "s390x".to_owned(),
        m => format!("machine {}", m.0),
    };
    if !e.is_little_endian() {
        name += " big-endian";
    }
    if name != elf_cpu(want) {
        out.push(problem("cpu", elf_cpu(want), name.clone()));
    }
    let ty = header.e_type(e);
    if ty != elf::ET_EXEC && ty != elf::ET_DYN {
        let found = match ty {
            elf::ET_REL => "a relocatable object".to_owned(),
            elf::ET_CORE => "a core dump".to_owned(),
            t => format!("ELF type {}", t.0),
        };
        out.push(problem("kind", "an executable", found));
    }
    let (mut interp, mut end) = (None, 0u64);
    for ph in header.program_headers(e, bytes)? {
        if ph.p_type(e) == elf::PT_LOAD {
            end = end.max(ph.p_offset(e).saturating_add(ph.p_filesz(e)));
        }
        if let Some(i) = ph.interpreter(e, bytes)? {
            interp = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    if let Some(i) = interp {
        let expected = "a static executable (no PT_INTERP)";
        out.push(problem(
            "static",
            expected,
            format!("a dynamic one with interpreter {i}"),
        ));
    }
    if end > bytes.len() as u64 {
        out.push(truncated(end, bytes.len(), "segment", None));
    }
    Ok(format!("ELF {name}"))
}

#[cfg(test)]
mod tests {
    use super::mach::tests::{dylib, fat, minos, signature, thin};
    use super::pe::tests::Pe;
    use super::*;
    use object::macho::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};

    /// An ELF64 little-endian executable with one PT_LOAD and, if given, a PT_INTERP.
    fn elf(machine: u16, interp: Option<&str>) -> Vec<u8> {
        let phnum: u16 = 1 + u16::from(interp.is_some());
        let mut v = b"\x7fELF\x02\x01\x01".to_vec();
        v.resize(16, 0);
        v.extend(elf::ET_EXEC.0.to_le_bytes());
        v.extend(machine.to_le_bytes());
        v.extend(1u32.to_le_bytes());
        v.extend(0x40_1000u64.to_le_bytes()); // entry
        v.extend(64u64.to_le_bytes()); // phoff
        v.extend(0u64.to_le_bytes()); // shoff
        v.extend(0u32.to_le_bytes()); // flags
        for half in [64u16, 56, phnum, 64, 0, 0] {
            v.extend(half.to_le_bytes());
        }
        let interp_at = 64 + 56 * u64::from(phnum);
        let interp = interp.map(|i| format!("{i}\0"));
        let file_len = 256; // headers, the interpreter's name, padding
        let mut phdr = |ty: elf::ProgramType, offset: u64, size: u64| {
            v.extend(ty.0.to_le_bytes());
            v.extend(4u32.to_le_bytes());
            for word in [
                offset,
                0x40_0000 + offset,
                0x40_0000 + offset,
                size,
                size,
                8,
            ] {
                v.extend(word.to_le_bytes());
            }
        };
        phdr(elf::PT_LOAD, 0, file_len);
        if let Some(i) = &interp {
            phdr(elf::PT_INTERP, interp_at, i.len() as u64);
        }
        v.extend(interp.unwrap_or_default().as_bytes());
        v.resize(file_len as usize, 0);
        v
    }

    fn lines(r: &Report) -> Vec<String> {
        r.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn elf_must_be_static_and_for_the_right_machine() {
        let f = Floors::default();
        let ok = check(&elf(62, None), HostOs::Linux, Cpu::X86_64, &f);
        assert_eq!((ok.format.as_str(), lines(&ok)), ("ELF x86-64", vec![]));
        let arm = check(&elf(183, None), HostOs::Linux, Cpu::X86_64, &f);
        assert_eq!(lines(&arm), ["cpu: expected x86-64, found AArch64"]);
        let dynamic = elf(183, Some("/lib/ld-linux-aarch64.so.1"));
        assert_eq!(
            lines(&check(&dynamic, HostOs::Linux, Cpu::Aarch64, &f)),
            [
                "static: expected a static executable (no PT_INTERP), found a dynamic one with \
              interpreter /lib/ld-linux-aarch64.so.1"
            ]
        );
        let mut elf32 = elf(62, None);
        elf32[4] = elf::ELFCLASS32.0;
        assert_eq!(
            lines(&check(&elf32, HostOs::Linux, Cpu::X86_64, &f)),
            ["cpu: expected 64-bit x86-64, found 32-bit ELF"]
        );
        let mut object_file = elf(62, None);
        object_file[16] = elf::ET_REL.0 as u8;
        assert_eq!(
            lines(&check(&object_file, HostOs::Linux, Cpu::X86_64, &f)),
            ["kind: expected an executable, found a relocatable object"]
        );
        let cut = &elf(62, None)[..200];
        assert_eq!(
            lines(&check(cut, HostOs::Linux, Cpu::X86_64, &f)),
            ["size: expected 256 bytes (where the last segment ends), found 200 bytes"]
        );
    }

    #[test]
    fn the_wrong_format_or_no_format_is_one_problem() {
        let f = Floors::default();
        let r = check(&elf(62, None), HostOs::Darwin, Cpu::X86_64, &f);
        assert_eq!(lines(&r), ["format: expected Mach-O, found ELF"]);
        let r = check(&Pe::default().bytes(), HostOs::Linux, Cpu::X86_64, &f);
        assert_eq!(lines(&r), ["format: expected ELF, found PE"]);
        let r = check(b"#!/bin/sh\n", HostOs::Windows, Cpu::X86_64, &f);
        assert_eq!(
            lines(&r),
            ["format: expected PE, found not an executable (starts 23 21 2f 62)"]
        );
        assert_eq!(r.format, "not an executable");
        let r = check(b"", HostOs::Linux, Cpu::X86_64, &f);
        assert_eq!(
            lines(&r),
            ["format: expected ELF, found not an executable (empty file)"]
        );
        let r = check(b"MZ\0\0 not really", HostOs::Windows, Cpu::X86_64, &f);
        assert_eq!(r.problems.len(), 1);
        assert!(lines(&r)[0].starts_with("format: expected a well-formed PE, found malformed PE ("));
    }

    /// xorshift64: reproducible noise without a dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ALL: [(HostOs, Cpu); 3] = [
        (HostOs::Darwin, Cpu::Aarch64),
        (HostOs::Windows, Cpu::X86_64),
        (HostOs::Linux, Cpu::X86_64),
    ];

    #[test]
    fn random_bytes_are_one_problem_never_a_panic() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5000 {
            let len = noise.below(600);
            let bytes: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
            for (os, cpu) in ALL {
                let r = check(&bytes, os, cpu, &Floors::default());
                assert!(!r.is_ok(), "{bytes:02x?}");
                if sniff(&bytes).is_none() {
                    assert_eq!(r.problems.len(), 1);
                    assert!(r.problems[0].found.starts_with("not an executable"));
                }
            }
        }
    }

    /// Every truncation and thousands of random byte flips of each synthetic sample.
    #[test]
    fn cut_or_mangled_samples_never_panic() {
        let samples = [
            thin(
                CPU_TYPE_ARM64,
                &[
                    dylib("/usr/lib/libSystem.B.dylib"),
                    minos(13, 0),
                    signature(),
                ],
            ),
            fat(&[
                (CPU_TYPE_X86_64, thin(CPU_TYPE_X86_64, &[minos(10, 12)])),
                (CPU_TYPE_ARM64, thin(CPU_TYPE_ARM64, &[signature()])),
            ]),
            Pe::default().bytes(),
            elf(62, Some("/lib/ld-musl-x86_64.so.1")),
        ];
        let mut noise = Noise(42);
        for sample in &samples {
            for len in 0..sample.len() {
                for (os, cpu) in ALL {
                    check(&sample[..len], os, cpu, &Floors::default());
                }
            }
            for _ in 0..3000 {
                let mut bytes = sample.clone();
                for _ in 0..1 + noise.below(8) {
                    let at = noise.below(bytes.len().min(512));
                    bytes[at] = noise.next() as u8;
                }
                for (os, cpu) in ALL {
                    check(&bytes, os, cpu, &Floors::default());
                }
            }
        }
    }

    #[test]
    fn problems_read_as_rule_expected_found() {
        let p = problem("cpu", "arm64", "x86_64");
        assert_eq!(p.to_string(), "cpu: expected arm64, found x86_64");
    }
}
