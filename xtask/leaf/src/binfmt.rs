//! Binary-format sniffing: read an executable's header and say which format and CPU it is
//! built for, so the release pipeline and the image verifier can prove that every host
//! binary in every variant really is, say, "PE arm64" and not a mislabelled copy.
//!
//! Only the fixed-layout headers are parsed (no sections, symbols or load commands), which
//! is why the first few KiB of a file are enough. Every read goes through
//! [`crate::bytes::Reader`], which bounds-checks, so arbitrary input yields an error and
//! never a panic.
//!
//! Mach-O universal ("fat") binaries are rejected with [`SniffError::Universal`] rather than
//! modelled: the extension ships one thin binary per OS/arch directory, so a fat binary there
//! means the build went wrong, and "which CPU is this?" has no single answer for it.

use std::fmt;
use std::io::Read;

use anyhow::Context;
use camino::Utf8Path;

use crate::bytes::{Endian, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    MachO,
    Pe,
    Elf,
}

/// `Other` carries the raw ELF `e_machine`, Mach-O `cputype` or PE COFF `Machine` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpu {
    X86_64,
    Aarch64,
    Other(u32),
}

/// Whether the binary needs a program interpreter (dynamic loader) to start.
///
/// ELF: `Dynamic` iff it has a `PT_INTERP` program header; that is what decides whether it
/// runs in a `FROM scratch` image. A shared library usually has no `PT_INTERP` and so
/// reports `Static`; that is fine here because we only sniff executables. Mach-O and PE go
/// through the OS loader, so the question does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    Static,
    Dynamic,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinInfo {
    pub format: Format,
    pub cpu: Cpu,
    pub linkage: Linkage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniffError {
    /// No known magic. Holds the first (up to 4) bytes to show in the message.
    NotExecutable { head: Vec<u8> },
    /// The header (or the ELF program headers) extends past the bytes we were given.
    Truncated { format: Format, detail: String },
    /// The magic matched, but a header field makes no sense.
    Malformed { format: Format, detail: String },
    /// A valid header, but for something the OS cannot run (an ELF object file or core dump).
    NotLoadable { format: Format, detail: String },
    /// A Mach-O universal binary (see the module docs for why this is an error).
    Universal { archs: u32 },
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::MachO => "Mach-O",
            Format::Pe => "PE",
            Format::Elf => "ELF",
        })
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cpu::X86_64 => f.write_str("x86_64"),
            // "arm64" rather than "aarch64": it matches Docker's platform names (linux/arm64).
            Cpu::Aarch64 => f.write_str("arm64"),
            Cpu::Other(raw) => write!(f, "unknown({raw:#x})"),
        }
    }
}

impl fmt::Display for BinInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format, self.cpu)?;
        match self.linkage {
            Linkage::Static => f.write_str(" static"),
            Linkage::Dynamic => f.write_str(" dynamic"),
            Linkage::NotApplicable => Ok(()),
        }
    }
}

impl fmt::Display for SniffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SniffError::NotExecutable { head } if head.is_empty() => {
                f.write_str("not an executable: file is empty")
            }
            SniffError::NotExecutable { head } => {
                let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
                write!(
                    f,
                    "not an executable: starts with bytes {} (expected ELF, Mach-O or PE magic)",
                    hex.join(" ")
                )
            }
            SniffError::Truncated { format, detail } => {
                write!(f, "truncated {format} header: {detail}")
            }
            SniffError::Malformed { format, detail } => {
                write!(f, "malformed {format} header: {detail}")
            }
            SniffError::NotLoadable { format, detail } => {
                write!(f, "{format} file is not an executable: {detail}")
            }
            SniffError::Universal { archs } => write!(
                f,
                "Mach-O universal binary with {archs} architectures: \
                 expected a thin binary for a single CPU"
            ),
        }
    }
}

impl std::error::Error for SniffError {}

/// Identify an executable from its leading bytes (a 4096-byte prefix is enough for normal
/// binaries; a whole file works too).
pub fn sniff(bytes: &[u8]) -> Result<BinInfo, SniffError> {
    match bytes {
        [0x7f, b'E', b'L', b'F', ..] => sniff_elf(bytes),
        // Thin Mach-O, 32/64-bit, in either byte order (the big-endian ones are PowerPC).
        [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..] => sniff_macho(bytes, Endian::Little),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..] => sniff_macho(bytes, Endian::Big),
        // 0xcafebabe (and 0xcafebabf for fat64) is also the Java class-file magic; there the
        // next word is the class version (>= 45), so a small count means a universal binary.
        // The same heuristic is used by file(1).
        [0xca, 0xfe, 0xba, 0xbe | 0xbf, ..] => match Reader::new(bytes, Endian::Big).u32(4) {
            Some(archs) if archs < 45 => Err(SniffError::Universal { archs }),
            _ => Err(not_executable(bytes)),
        },
        [b'M', b'Z', ..] => sniff_pe(bytes),
        _ => Err(not_executable(bytes)),
    }
}

/// A PE file's link time (COFF header `TimeDateStamp`, seconds since 1970), which linkers
/// take from `SOURCE_DATE_EPOCH`; `None` for anything that is not PE.
pub fn pe_link_time(bytes: &[u8]) -> Option<u32> {
    let r = Reader::new(bytes, Endian::Little);
    if r.bytes(0, 2)? != b"MZ" {
        return None;
    }
    let pe = u64::from(r.u32(0x3c)?);
    if r.bytes(pe, 4)? != b"PE\0\0" {
        return None;
    }
    // Signature, then Machine (2), NumberOfSections (2), TimeDateStamp (4).
    r.u32(pe + 8)
}

/// [`sniff`] a file on disk, reading at most its first 64 KiB. ELF program headers almost
/// always sit right after the 64-byte ELF header, so this is generous, yet it stays cheap
/// when verifying hundreds of binaries.
pub fn sniff_file(path: &Utf8Path) -> anyhow::Result<BinInfo> {
    sniff(&head(path)?).with_context(|| format!("identifying binary format of {path}"))
}

/// The first 64 KiB of `path`, where [`sniff`] and [`pe_link_time`] find what they read.
pub fn head(path: &Utf8Path) -> anyhow::Result<Vec<u8>> {
    const MAX: u64 = 64 * 1024;
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut bytes = Vec::new();
    file.take(MAX)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {path}"))?;
    Ok(bytes)
}

fn not_executable(bytes: &[u8]) -> SniffError {
    let head = bytes.get(..4).unwrap_or(bytes).to_vec();
    SniffError::NotExecutable { head }
}

fn truncated(format: Format, detail: String) -> SniffError {
    SniffError::Truncated { format, detail }
}

fn malformed(format: Format, detail: String) -> SniffError {
    SniffError::Malformed { format, detail }
}

fn sniff_elf(bytes: &[u8]) -> Result<BinInfo, SniffError> {
    const EM_X86_64: u16 = 62;
    const EM_AARCH64: u16 = 183;
    const PT_INTERP: u32 = 3;
    const PN_XNUM: u16 = 0xffff;
    const ET_REL: u16 = 1;
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    let f = Format::Elf;
    let not_loadable = |detail| SniffError::NotLoadable { format: f, detail };
    let len = bytes.len();

    let endian = match bytes.get(5) {
        Some(1) => Endian::Little,
        Some(2) => Endian::Big,
        Some(other) => return Err(malformed(f, format!("EI_DATA {other} is not 1 or 2"))),
        None => return Err(truncated(f, format!("ident beyond {len} bytes read"))),
    };
    let r = Reader::new(bytes, endian);
    // Field offsets of e_phoff/e_phentsize/e_phnum and the minimum phdr size per class.
    let (phoff, phentsize_at, phnum_at, min_phentsize) = match bytes.get(4) {
        Some(1) => (r.u32(28).map(u64::from), 42, 44, 32),
        Some(2) => (r.u64(32), 54, 56, 56),
        Some(other) => return Err(malformed(f, format!("EI_CLASS {other} is not 1 or 2"))),
        None => return Err(truncated(f, format!("ident beyond {len} bytes read"))),
    };
    let header = (
        r.u16(16),
        r.u16(18),
        phoff,
        r.u16(phentsize_at),
        r.u16(phnum_at),
    );
    let (Some(e_type), Some(machine), Some(phoff), Some(phentsize), Some(phnum)) = header else {
        return Err(truncated(f, format!("ELF header beyond {len} bytes read")));
    };
    // ET_EXEC, or ET_DYN for PIE (static-pie included) and shared libraries. Anything else
    // (an object file, a core dump) has no meaningful linkage, and "static" would be a lie.
    match e_type {
        ET_EXEC | ET_DYN => {}
        ET_REL => return Err(not_loadable("e_type 1 (relocatable object file)".into())),
        other => return Err(not_loadable(format!("e_type {other}"))),
    }
    if phnum == PN_XNUM {
        // The real count would be in section header 0, usually at the end of the file.
        return Err(malformed(
            f,
            "e_phnum is PN_XNUM (over 65534 program headers)".into(),
        ));
    }
    if phnum > 0 && phentsize < min_phentsize {
        return Err(malformed(
            f,
            format!("e_phentsize {phentsize} is smaller than a program header ({min_phentsize})"),
        ));
    }

    // Demand the whole program header table: answering "static" because the PT_INTERP
    // entry happened to be cut off would be exactly the wrong guess.
    let table_end = u64::from(phnum)
        .checked_mul(u64::from(phentsize))
        .and_then(|size| size.checked_add(phoff));
    match table_end {
        Some(end) if end <= len as u64 => {}
        _ => {
            return Err(truncated(
                f,
                format!("{phnum} program headers at e_phoff {phoff:#x} beyond {len} bytes read"),
            ))
        }
    }
    let has_interp = (0..u64::from(phnum))
        .map(|i| r.u32(phoff + i * u64::from(phentsize)))
        .any(|p_type| p_type == Some(PT_INTERP));

    let cpu = match machine {
        EM_X86_64 => Cpu::X86_64,
        EM_AARCH64 => Cpu::Aarch64,
        other => Cpu::Other(other.into()),
    };
    let linkage = if has_interp {
        Linkage::Dynamic
    } else {
        Linkage::Static
    };
    Ok(BinInfo {
        format: f,
        cpu,
        linkage,
    })
}

fn sniff_macho(bytes: &[u8], endian: Endian) -> Result<BinInfo, SniffError> {
    const CPU_TYPE_X86_64: u32 = 0x0100_0007;
    const CPU_TYPE_ARM64: u32 = 0x0100_000c;
    // cputype follows the magic in both the 32- and 64-bit mach_header.
    let cputype = Reader::new(bytes, endian).u32(4).ok_or_else(|| {
        truncated(
            Format::MachO,
            format!("cputype beyond {} bytes read", bytes.len()),
        )
    })?;
    let cpu = match cputype {
        CPU_TYPE_X86_64 => Cpu::X86_64,
        CPU_TYPE_ARM64 => Cpu::Aarch64,
        other => Cpu::Other(other),
    };
    Ok(BinInfo {
        format: Format::MachO,
        cpu,
        linkage: Linkage::NotApplicable,
    })
}

fn sniff_pe(bytes: &[u8]) -> Result<BinInfo, SniffError> {
    const IMAGE_FILE_MACHINE_AMD64: u16 = 0x8664;
    const IMAGE_FILE_MACHINE_ARM64: u16 = 0xaa64;
    let f = Format::Pe;
    let len = bytes.len();
    let r = Reader::new(bytes, Endian::Little);

    // The DOS stub header ends with e_lfanew, the offset of the real PE header.
    let lfanew = r
        .u32(0x3c)
        .ok_or_else(|| truncated(f, format!("DOS header (64 bytes) beyond {len} bytes read")))?;
    let lfanew = u64::from(lfanew);
    let (Some(signature), Some(machine)) = (r.array::<4>(lfanew), r.u16(lfanew + 4)) else {
        return Err(truncated(
            f,
            format!("e_lfanew {lfanew:#x} beyond {len} bytes read"),
        ));
    };
    if signature != *b"PE\0\0" {
        // A plain DOS program, or some other MZ-based format (NE/LE).
        return Err(malformed(
            f,
            format!("no PE\\0\\0 signature at e_lfanew {lfanew:#x} (found {signature:02x?})"),
        ));
    }
    let cpu = match machine {
        IMAGE_FILE_MACHINE_AMD64 => Cpu::X86_64,
        IMAGE_FILE_MACHINE_ARM64 => Cpu::Aarch64,
        other => Cpu::Other(other.into()),
    };
    Ok(BinInfo {
        format: f,
        cpu,
        linkage: Linkage::NotApplicable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A golden header: the first 4096 bytes of a real binary (see
    /// xtask/tests/data/headers/README.md for how they were made).
    macro_rules! header {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/data/headers/",
                $name,
                ".bin"
            ))
            .as_slice()
        };
    }

    macro_rules! sample {
        ($name:literal, $format:ident, $cpu:ident, $linkage:ident) => {
            (
                $name,
                header!($name),
                BinInfo {
                    format: Format::$format,
                    cpu: Cpu::$cpu,
                    linkage: Linkage::$linkage,
                },
            )
        };
    }

    const SAMPLES: &[(&str, &[u8], BinInfo)] = &[
        sample!("x86_64-apple-darwin", MachO, X86_64, NotApplicable),
        sample!("aarch64-apple-darwin", MachO, Aarch64, NotApplicable),
        sample!("x86_64-pc-windows-gnu", Pe, X86_64, NotApplicable),
        sample!("aarch64-pc-windows-gnullvm", Pe, Aarch64, NotApplicable),
        sample!("x86_64-unknown-linux-musl", Elf, X86_64, Static),
        sample!("aarch64-unknown-linux-musl", Elf, Aarch64, Static),
        sample!("dynamic-x86_64-linux-gnu", Elf, X86_64, Dynamic),
    ];

    #[test]
    fn real_headers_are_identified() {
        for (name, bytes, expected) in SAMPLES {
            let len = bytes.len();
            assert!(len <= 4096, "{name}: golden header is {len} bytes");
            let info = sniff(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&info, expected, "{name}");
        }
    }

    #[test]
    fn display_strings() {
        let shown: Vec<String> = SAMPLES
            .iter()
            .map(|s| sniff(s.1).unwrap().to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "Mach-O x86_64",
                "Mach-O arm64",
                "PE x86_64",
                "PE arm64",
                "ELF x86_64 static",
                "ELF arm64 static",
                "ELF x86_64 dynamic",
            ]
        );
        assert_eq!(Cpu::Other(0x14c).to_string(), "unknown(0x14c)");
    }

    #[test]
    fn other_cpu_keeps_the_raw_value() {
        let mut pe = header!("x86_64-pc-windows-gnu").to_vec();
        let lfanew = u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize;
        pe[lfanew + 4..lfanew + 6].copy_from_slice(&0x014c_u16.to_le_bytes()); // i386
        assert_eq!(sniff(&pe).unwrap().to_string(), "PE unknown(0x14c)");

        let mut elf = header!("x86_64-unknown-linux-musl").to_vec();
        elf[18..20].copy_from_slice(&243_u16.to_le_bytes()); // EM_RISCV
        assert_eq!(sniff(&elf).unwrap().cpu, Cpu::Other(243));
    }

    #[test]
    fn big_endian_32_bit_elf() {
        // Hand-made ELF32 big-endian header (e.g. MIPS) with one PT_INTERP program header.
        let mut elf = vec![0u8; 52 + 32];
        elf[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 1, 2]);
        elf[16..18].copy_from_slice(&2_u16.to_be_bytes()); // ET_EXEC
        elf[18..20].copy_from_slice(&8_u16.to_be_bytes()); // EM_MIPS
        elf[28..32].copy_from_slice(&52_u32.to_be_bytes()); // e_phoff
        elf[42..44].copy_from_slice(&32_u16.to_be_bytes()); // e_phentsize
        elf[44..46].copy_from_slice(&1_u16.to_be_bytes()); // e_phnum
        elf[52..56].copy_from_slice(&3_u32.to_be_bytes()); // PT_INTERP
        assert_eq!(sniff(&elf).unwrap().to_string(), "ELF unknown(0x8) dynamic");
    }

    #[test]
    fn non_executables_are_rejected_with_clear_messages() {
        let json = br#"{"name": "docker-extension", "version": "0.1.0"}"#;
        assert_eq!(
            sniff(json).unwrap_err().to_string(),
            "not an executable: starts with bytes 7b 22 6e 61 (expected ELF, Mach-O or PE magic)"
        );
        assert_eq!(
            sniff(b"").unwrap_err().to_string(),
            "not an executable: file is empty"
        );
        assert!(matches!(
            sniff(b"#!/bin/sh\n"),
            Err(SniffError::NotExecutable { .. })
        ));
        // A Java class file shares the fat magic but has a large version number there.
        let class = [0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00, 0x00, 0x41];
        assert!(matches!(
            sniff(&class),
            Err(SniffError::NotExecutable { .. })
        ));
    }

    #[test]
    fn elf_object_files_are_not_executables() {
        let mut elf = header!("x86_64-unknown-linux-musl").to_vec();
        elf[16..18].copy_from_slice(&1_u16.to_le_bytes()); // ET_REL, as in a .o file
        assert_eq!(
            sniff(&elf).unwrap_err().to_string(),
            "ELF file is not an executable: e_type 1 (relocatable object file)"
        );
    }

    #[test]
    fn universal_binaries_are_rejected() {
        let fat = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
        let err = sniff(&fat).unwrap_err();
        assert_eq!(err, SniffError::Universal { archs: 2 });
        assert!(err
            .to_string()
            .contains("universal binary with 2 architectures"));
    }

    #[test]
    fn truncated_headers_are_errors_not_guesses() {
        let pe = header!("x86_64-pc-windows-gnu");
        assert_eq!(
            sniff(&pe[..0x40]).unwrap_err().to_string(),
            "truncated PE header: e_lfanew 0x78 beyond 64 bytes read"
        );
        // Cut the dynamic ELF inside its program headers: the PT_INTERP entry is still
        // there, but claiming anything about an incomplete table would be a guess.
        let elf = header!("dynamic-x86_64-linux-gnu");
        assert_eq!(
            sniff(&elf[..0x100]).unwrap_err().to_string(),
            "truncated ELF header: 12 program headers at e_phoff 0x40 beyond 256 bytes read"
        );
        let mut pe_no_sig = pe.to_vec();
        pe_no_sig[0x78] = b'N';
        let err = sniff(&pe_no_sig).unwrap_err();
        assert!(
            matches!(
                err,
                SniffError::Malformed {
                    format: Format::Pe,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn no_panic_on_any_prefix_and_prefixes_never_disagree() {
        for (name, bytes, expected) in SAMPLES {
            for len in 0..=bytes.len() {
                if let Ok(info) = sniff(&bytes[..len]) {
                    assert_eq!(&info, expected, "{name} cut to {len} bytes");
                }
            }
        }
    }

    #[test]
    fn no_panic_on_garbage() {
        // xorshift64: deterministic and dependency-free.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let magics: [&[u8]; 7] = [
            b"\x7fELF\x02\x01",
            b"\x7fELF\x01\x02",
            b"\xcf\xfa\xed\xfe",
            b"\xca\xfe\xba\xbe",
            b"MZ",
            b"",
            b"\x7fELF",
        ];
        for round in 0..20_000 {
            let len = (next() % 300) as usize;
            let mut buf: Vec<u8> = magics[round % magics.len()].to_vec();
            buf.extend((0..len).map(|_| next() as u8));
            let _ = sniff(&buf);
        }
        // Corrupt real headers too, so the deeper parsing paths see hostile field values.
        for round in 0..20_000 {
            let mut buf = SAMPLES[round % SAMPLES.len()].1[..512].to_vec();
            for _ in 0..4 {
                let at = (next() % 128) as usize;
                buf[at] = next() as u8;
            }
            let _ = sniff(&buf);
        }
        let mut huge = header!("x86_64-unknown-linux-musl")[..64].to_vec();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
        assert!(matches!(sniff(&huge), Err(SniffError::Truncated { .. })));
    }

    #[test]
    fn sniff_file_reads_files_and_names_the_path_on_error() {
        let dir = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/headers");
        let info = sniff_file(&dir.join("aarch64-unknown-linux-musl.bin")).unwrap();
        assert_eq!(info.to_string(), "ELF arm64 static");

        let missing = dir.join("no-such-binary");
        let err = sniff_file(&missing).unwrap_err();
        assert!(format!("{err}").contains(missing.as_str()), "{err:#}");

        let err = sniff_file(&dir.join("not-executable.json")).unwrap_err();
        assert!(
            format!("{err:#}").ends_with("not-executable.json: not an executable: starts with bytes 7b 22 6e 61 (expected ELF, Mach-O or PE magic)"),
            "{err:#}"
        );
    }
}
