//! The reader on real binaries' headers (xtask/tests/data/headers) and on synthetic ones
//! breaking one rule each; random and cut input never panics.

use object::elf;

use super::macho::tests::{dylib, fat, minos, signature, thin, CPU_TYPE_ARM64, CPU_TYPE_X86_64};
use super::pe::tests::Pe;
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

/// The first 4096 bytes: all `sniff` gets of each sample (aarch64-apple-darwin.bin is
/// the whole binary, for its code signature).
const fn head(bytes: &[u8]) -> &[u8] {
    match bytes.len() > 4096 {
        true => bytes.split_at(4096).0,
        false => bytes,
    }
}

/// Format, CPU and linkage: what every prefix that can be read must agree on.
type Kind = (Format, Vec<Cpu>, Linkage);

fn kind(info: &BinInfo) -> Kind {
    (info.format, info.cpus.clone(), info.linkage)
}

macro_rules! sample {
    ($name:literal, $format:ident, $cpu:ident, $linkage:ident) => {
        (
            $name,
            head(header!($name)),
            Format::$format,
            Cpu::$cpu,
            Linkage::$linkage,
        )
    };
}

const SAMPLES: &[(&str, &[u8], Format, Cpu, Linkage)] = &[
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
    for &(name, bytes, format, cpu, linkage) in SAMPLES {
        let len = bytes.len();
        assert!(len <= 4096, "{name}: golden header is {len} bytes");
        let info = sniff(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(kind(&info), (format, vec![cpu], linkage), "{name}");
        assert_eq!(info.cpu(), Some(cpu), "{name}");
    }
    let musl = sniff(header!("aarch64-unknown-linux-musl")).unwrap();
    assert_eq!((musl.interpreter, musl.needed), (None, Some(vec![])));
    let gnu = sniff(header!("dynamic-x86_64-linux-gnu")).unwrap();
    assert_eq!(
        gnu.interpreter.as_deref(),
        Some("/lib64/ld-linux-x86-64.so.2")
    );
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
    assert_eq!(sniff(&pe).unwrap().to_string(), "PE i386");
    pe[lfanew + 4..lfanew + 6].copy_from_slice(&0x0166_u16.to_le_bytes()); // MIPS R4000
    assert_eq!(sniff(&pe).unwrap().to_string(), "PE unknown(0x166)");

    let mut elf = header!("x86_64-unknown-linux-musl").to_vec();
    elf[18..20].copy_from_slice(&243_u16.to_le_bytes()); // EM_RISCV
    assert_eq!(sniff(&elf).unwrap().cpus, [Cpu::Named("riscv64")]);
    elf[18..20].copy_from_slice(&258_u16.to_le_bytes()); // EM_LOONGARCH
    assert_eq!(sniff(&elf).unwrap().cpus, [Cpu::Other(258)]);
}

#[test]
fn big_endian_32_bit_elf() {
    // Hand-made ELF32 big-endian header (e.g. MIPS) with one PT_INTERP program header
    // naming the 4-byte "/ld\0" after it.
    let mut elf = vec![0u8; 52 + 32 + 4];
    elf[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 1, 2, 1]);
    elf[16..18].copy_from_slice(&2_u16.to_be_bytes()); // ET_EXEC
    elf[18..20].copy_from_slice(&8_u16.to_be_bytes()); // EM_MIPS
    elf[28..32].copy_from_slice(&52_u32.to_be_bytes()); // e_phoff
    elf[42..44].copy_from_slice(&32_u16.to_be_bytes()); // e_phentsize
    elf[44..46].copy_from_slice(&1_u16.to_be_bytes()); // e_phnum
    elf[52..56].copy_from_slice(&3_u32.to_be_bytes()); // PT_INTERP
    elf[56..60].copy_from_slice(&84_u32.to_be_bytes()); // p_offset
    elf[68..72].copy_from_slice(&4_u32.to_be_bytes()); // p_filesz
    elf[84..].copy_from_slice(b"/ld\0");
    let info = sniff(&elf).unwrap();
    assert_eq!(info.to_string(), "ELF unknown(0x8) dynamic");
    assert_eq!(info.interpreter.as_deref(), Some("/ld"));
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

/// One verdict with `check`: a universal binary is a Mac binary for each CPU it holds.
#[test]
fn universal_binaries_list_their_slices() {
    let x86 = thin(CPU_TYPE_X86_64, &[]);
    let both = fat(&[(CPU_TYPE_X86_64, x86.clone()), (CPU_TYPE_ARM64, x86)]);
    let info = sniff(&both).unwrap();
    assert_eq!(info.to_string(), "Mach-O universal (x86_64, arm64)");
    assert!(info.runs_on(Cpu::Aarch64) && info.runs_on(Cpu::X86_64));
    assert_eq!(info.cpu(), None);
    // Only the fat_arch table is read: a head of the file is enough.
    assert_eq!(sniff(&both[..100]).unwrap(), info);
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
    for &(name, bytes, format, cpu, linkage) in SAMPLES {
        for len in 0..=bytes.len() {
            if let Ok(info) = sniff(&bytes[..len]) {
                let want = (format, vec![cpu], linkage);
                assert_eq!(kind(&info), want, "{name} cut to {len} bytes");
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
    phdr(elf::PT_LOAD.0, 0, file_len);
    if let Some(i) = &interp {
        phdr(elf::PT_INTERP.0, interp_at, i.len() as u64);
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
    let ok = check(&elf(62, None), Os::Linux, Cpu::X86_64, &f);
    assert_eq!(
        (ok.format.as_str(), lines(&ok)),
        ("ELF x86_64 static", vec![])
    );
    let arm = check(&elf(183, None), Os::Linux, Cpu::X86_64, &f);
    assert_eq!(lines(&arm), ["cpu: expected x86_64, found arm64"]);
    let dynamic = elf(183, Some("/lib/ld-linux-aarch64.so.1"));
    assert_eq!(
        lines(&check(&dynamic, Os::Linux, Cpu::Aarch64, &f)),
        [
            "static: expected a static executable (no PT_INTERP), found a dynamic one with \
          interpreter /lib/ld-linux-aarch64.so.1"
        ]
    );
    let mut elf32 = elf(62, None);
    elf32[4] = elf::ELFCLASS32.0;
    assert_eq!(
        lines(&check(&elf32, Os::Linux, Cpu::X86_64, &f)),
        ["cpu: expected x86_64, found x32"]
    );
    let mut object_file = elf(62, None);
    object_file[16] = elf::ET_REL.0 as u8;
    assert_eq!(
        lines(&check(&object_file, Os::Linux, Cpu::X86_64, &f)),
        ["kind: expected an executable, found a relocatable object"]
    );
    let cut = &elf(62, None)[..200];
    assert_eq!(
        lines(&check(cut, Os::Linux, Cpu::X86_64, &f)),
        ["size: expected 256 bytes (where the last segment ends), found 200 bytes"]
    );
}

#[test]
fn the_wrong_format_or_no_format_is_one_problem() {
    let f = Floors::default();
    let r = check(&elf(62, None), Os::Darwin, Cpu::X86_64, &f);
    assert_eq!(lines(&r), ["format: expected Mach-O, found ELF"]);
    let r = check(&Pe::default().bytes(), Os::Linux, Cpu::X86_64, &f);
    assert_eq!(lines(&r), ["format: expected ELF, found PE"]);
    let r = check(b"#!/bin/sh\n", Os::Windows, Cpu::X86_64, &f);
    assert_eq!(
        lines(&r),
        ["format: expected PE, found not an executable (starts 23 21 2f 62)"]
    );
    assert_eq!(r.format, "not an executable");
    let r = check(b"", Os::Linux, Cpu::X86_64, &f);
    assert_eq!(
        lines(&r),
        ["format: expected ELF, found not an executable (empty file)"]
    );
    let r = check(b"MZ\0\0 not really", Os::Windows, Cpu::X86_64, &f);
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

const ALL: [(Os, Cpu); 3] = [
    (Os::Darwin, Cpu::Aarch64),
    (Os::Windows, Cpu::X86_64),
    (Os::Linux, Cpu::X86_64),
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
            if magic(&bytes).is_none() {
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

/// What macOS does when it pages code in: each page of a real zig-signed binary hashes to
/// its slot; one byte flipped in __text after signing is caught, naming the page.
#[test]
fn an_arm64_mach_o_patched_after_signing_is_rejected_naming_the_page() {
    use object::read::macho::MachOFile64;
    use object::{Object, ObjectSection};
    let signed = header!("aarch64-apple-darwin");
    let f = Floors::default();
    let r = check(signed, Os::Darwin, Cpu::Aarch64, &f);
    assert_eq!((r.format.as_str(), lines(&r)), ("Mach-O arm64", vec![]));

    let file = MachOFile64::<object::Endianness>::parse(signed).unwrap();
    let (offset, size) = file
        .section_by_name("__text")
        .unwrap()
        .file_range()
        .unwrap();
    let at = (offset + size / 2) as usize;
    let mut patched = signed.to_vec();
    patched[at] ^= 0x01;
    let r = check(&patched, Os::Darwin, Cpu::Aarch64, &f);
    let page = at / 4096;
    let (start, end) = (page * 4096, page * 4096 + 4096);
    let [line] = lines(&r).try_into().unwrap_or_else(|l| panic!("{l:#?}"));
    let expected =
        format!("page hash: expected page {page} (bytes {start:#x}..{end:#x}) to hash to ");
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.contains(" (SHA-256), found "), "{line}");
    assert!(
        line.ends_with(": the file changed after it was signed"),
        "{line}"
    );
    // sniff reads headers only: the patched binary is still "Mach-O arm64".
    assert_eq!(sniff(&patched).unwrap().to_string(), "Mach-O arm64");
}

/// A code directory whose code limit stops short of the signature leaves bytes macOS
/// would map unsigned: its own rule, even when every page it covers hashes right.
#[test]
fn a_code_limit_short_of_the_signature_is_its_own_problem() {
    let signed = header!("aarch64-apple-darwin");
    // LC_CODE_SIGNATURE's dataoff, then the super blob's first index entry (the code
    // directory's offset); codeLimit is the directory's ninth big-endian word.
    let file = object::read::macho::MachOFile64::<object::Endianness>::parse(signed).unwrap();
    let mut commands = file.macho_load_commands().unwrap();
    let mut dataoff = None;
    while let Some(cmd) = commands.next().unwrap() {
        if cmd.cmd() == object::macho::LC_CODE_SIGNATURE {
            let l: &object::macho::LinkeditDataCommand<object::Endianness> = cmd.data().unwrap();
            dataoff = Some(l.dataoff.get(file.endian()) as usize);
        }
    }
    let dataoff = dataoff.unwrap();
    let be = |at: usize| u32::from_be_bytes(signed[at..at + 4].try_into().unwrap()) as usize;
    let cd = dataoff + be(dataoff + 16);
    assert_eq!(be(cd), 0xfade_0c02, "code directory magic");
    assert_eq!(
        be(cd + 32),
        dataoff,
        "zig signs every byte before the signature"
    );
    // A page boundary, so every page the directory still covers hashes right.
    let short = (dataoff - 1) / 4096 * 4096;
    let mut patched = signed.to_vec();
    patched[cd + 32..cd + 36].copy_from_slice(&(short as u32).to_be_bytes());
    let r = check(&patched, Os::Darwin, Cpu::Aarch64, &Floors::default());
    assert_eq!(
        lines(&r),
        [format!(
            "code signature covers the file: expected a code limit of {dataoff} (every byte \
             before the signature), found {short} (bytes {short:#x}..{dataoff:#x} are unsigned)"
        )]
    );
}
