//! Loadability: will this host binary start on the OS Docker Desktop runs it on?
//!
//! Format and CPU are not enough: Apple silicon kills unsigned
//! arm64 code, a dylib outside the OS is missing on the user's Mac, a MinGW DLL is missing
//! on a stock Windows, a GUI-subsystem exe has no console for Docker Desktop to read, a
//! binary built for a newer OS than the user's refuses to start, and a dynamic ELF has no
//! loader to run it. [`check`] reads the headers and load commands (through
//! [`crate::bytes::Reader`], which bounds-checks every read) and lists every such problem.
//!
//! A leaf: nothing from the crate but the byte reader, no I/O. Any bytes yield a
//! [`Report`], never a panic.

use std::fmt;

use crate::bytes::{Endian, Reader};

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

/// Why a header could not be read. The texts are the `object` crate's, which these checks
/// were first written against, so reports read as they always have.
#[derive(Debug, Clone, Copy)]
struct Bad(&'static str);

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
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
        mach::MH_MAGIC | mach::MH_MAGIC_64 | mach::MH_CIGAM | mach::MH_CIGAM_64 => Kind::MachO,
        mach::FAT_MAGIC => Kind::Fat32,
        mach::FAT_MAGIC_64 => Kind::Fat64,
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

// ELF, from the System V gABI (https://gabi.xinuos.com/elf/02-eheader.html and
// 07-pheader.html); e_machine values from each processor's supplement.
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_VERSION: usize = 6;
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const EV_CURRENT: u8 = 1;
const ET_REL: u16 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const ET_CORE: u16 = 4;
const EM_PPC64: u16 = 21;
const EM_S390: u16 = 22;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
/// e_phnum's escape: the real count is section header 0's sh_info.
const PN_XNUM: u16 = 0xffff;
/// Sizes of the ELF64 file header, program header and section header.
const EHDR64: u64 = 64;
const PHDR64: u64 = 56;
const SHDR64: u64 = 64;
/// A file shorter than the ELF header.
const ELF_HEADER: Bad = Bad("Invalid ELF header size or alignment");

fn check_elf(bytes: &[u8], want: Cpu, out: &mut Vec<Problem>) -> Parsed<String> {
    if bytes.get(EI_CLASS) == Some(&ELFCLASS32) {
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
    if (bytes.len() as u64) < EHDR64 {
        return Err(ELF_HEADER);
    }
    let e = match bytes[EI_DATA] {
        ELFDATA2LSB => Endian::Little,
        ELFDATA2MSB => Endian::Big,
        _ => return Err(Bad("Unsupported ELF header")),
    };
    if bytes[EI_CLASS] != ELFCLASS64 || bytes[EI_VERSION] != EV_CURRENT {
        return Err(Bad("Unsupported ELF header"));
    }
    let r = Reader::new(bytes, e);
    let mut name = match r.u16(18).ok_or(ELF_HEADER)? {
        EM_X86_64 => elf_cpu(Cpu::X86_64).to_owned(),
        EM_AARCH64 => elf_cpu(Cpu::Aarch64).to_owned(),
        EM_RISCV => "RISC-V".to_owned(),
        EM_PPC64 => "PowerPC64".to_owned(),
        EM_S390 => "s390x".to_owned(),
        m => format!("machine {m}"),
    };
    if e == Endian::Big {
        name += " big-endian";
    }
    if name != elf_cpu(want) {
        out.push(problem("cpu", elf_cpu(want), name.clone()));
    }
    let ty = r.u16(16).ok_or(ELF_HEADER)?;
    if ty != ET_EXEC && ty != ET_DYN {
        let found = match ty {
            ET_REL => "a relocatable object".to_owned(),
            ET_CORE => "a core dump".to_owned(),
            t => format!("ELF type {t}"),
        };
        out.push(problem("kind", "an executable", found));
    }
    let (mut interp, mut end) = (None, 0u64);
    let phdrs = program_headers(&r)?;
    for at in (0..phdrs.data().len() as u64).step_by(PHDR64 as usize) {
        let field = |off: u64| phdrs.u64(at + off).ok_or(ELF_HEADER);
        let (ty, offset, size) = (phdrs.u32(at).ok_or(ELF_HEADER)?, field(8)?, field(32)?);
        if ty == PT_LOAD {
            end = end.max(offset.saturating_add(size));
        }
        if ty == PT_INTERP {
            let data = r
                .slice(offset, size)
                .ok_or(Bad("Invalid ELF interpreter segment offset or size"))?;
            let i = data
                .c_str(0)
                .ok_or(Bad("Invalid ELF interpreter segment data"))?;
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

/// The program header table (empty when e_phoff or the count is 0), whole or an error.
fn program_headers<'a>(r: &Reader<'a>) -> Result<Reader<'a>, Bad> {
    let none = Reader::new(&[], r.endian());
    let field16 = |at| r.u16(at).ok_or(ELF_HEADER);
    let phoff = r.u64(32).ok_or(ELF_HEADER)?;
    if phoff == 0 {
        return Ok(none);
    }
    let phnum = match field16(56)? {
        n if n < PN_XNUM => u64::from(n),
        _ => {
            let shoff = r.u64(40).ok_or(ELF_HEADER)?;
            if shoff == 0 {
                return Err(Bad("Missing ELF section headers for e_phnum overflow"));
            }
            if u64::from(field16(58)?) != SHDR64 {
                return Err(Bad("Invalid ELF section header entry size"));
            }
            let section_0 = r.slice(shoff, SHDR64);
            let sh_info = section_0.and_then(|s| s.u32(44));
            u64::from(sh_info.ok_or(Bad("Invalid ELF section header offset or size"))?)
        }
    };
    if phnum == 0 {
        return Ok(none);
    }
    if u64::from(field16(54)?) != PHDR64 {
        return Err(Bad("Invalid ELF program header entry size"));
    }
    r.slice(phoff, phnum * PHDR64)
        .ok_or(Bad("Invalid ELF program header size or alignment"))
}

#[cfg(test)]
mod tests {
    use super::mach::tests::{dylib, fat, minos, signature, thin};
    use super::mach::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};
    use super::pe::tests::Pe;
    use super::*;

    /// An ELF64 little-endian executable with one PT_LOAD and, if given, a PT_INTERP.
    fn elf(machine: u16, interp: Option<&str>) -> Vec<u8> {
        let phnum: u16 = 1 + u16::from(interp.is_some());
        let mut v = b"\x7fELF\x02\x01\x01".to_vec();
        v.resize(16, 0);
        v.extend(ET_EXEC.to_le_bytes());
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
        let mut phdr = |ty: u32, offset: u64, size: u64| {
            v.extend(ty.to_le_bytes());
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
        phdr(PT_LOAD, 0, file_len);
        if let Some(i) = &interp {
            phdr(PT_INTERP, interp_at, i.len() as u64);
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
        elf32[4] = ELFCLASS32;
        assert_eq!(
            lines(&check(&elf32, HostOs::Linux, Cpu::X86_64, &f)),
            ["cpu: expected 64-bit x86-64, found 32-bit ELF"]
        );
        let mut object_file = elf(62, None);
        object_file[16] = ET_REL as u8;
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
            Pe {
                imports: &["KERNEL32.dll", "libgcc_s_seh-1.dll"],
                delay_imports: &["msvcp140.dll"],
                ..Pe::default()
            }
            .bytes(),
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
