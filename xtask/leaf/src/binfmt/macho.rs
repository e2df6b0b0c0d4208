//! Mach-O, thin or universal: each slice checked by the same rules (signature and its page
//! hashes, dylibs, minimum macOS, file type, completeness).

use object::macho::{self, FatArch32, FatArch64, MachHeader32, MachHeader64};
use object::read::macho::{FatArch, LoadCommandVariant, MachHeader, MachOFatFile};
use object::Endianness;

use super::{codesign, problem, truncated, BinInfo, Cpu, Floors, Format, Linkage, Parsed};
use super::{Problem, SniffError};

/// Each slice's CPU and bytes (the bytes are `None` in a head that ends before them).
type Slices<'a> = Vec<(Cpu, Option<&'a [u8]>)>;

pub(super) fn sniff(bytes: &[u8], universal: bool) -> Result<BinInfo, SniffError> {
    let f = Format::MachO;
    let cpus = match universal {
        // The fat_arch table names each slice's CPU; the slices themselves may lie past a
        // head of the file, and `check` proves they hold what the table says.
        true => slices(bytes).map(|s| s.into_iter().map(|(cpu, _)| cpu).collect()),
        false => thin_cpu(bytes).map(|cpu| vec![cpu]),
    };
    let cpus = cpus.map_err(|detail| match bytes.len() < 32 {
        true => SniffError::Truncated {
            format: f,
            detail: format!("header beyond {} bytes read", bytes.len()),
        },
        false => SniffError::Malformed { format: f, detail },
    })?;
    Ok(BinInfo {
        format: f,
        cpus,
        universal,
        linkage: Linkage::NotApplicable,
        interpreter: None,
        needed: None,
        runpath: Vec::new(),
    })
}

pub(super) fn check(
    bytes: &[u8],
    universal: bool,
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Parsed<String> {
    if !universal {
        let cpu = thin_cpu(bytes).map_err(|e| ("Mach-O", e))?;
        if cpu != want {
            out.push(problem("cpu", want.to_string(), cpu.to_string()));
        }
        slice_rules(bytes, None, floors, out).map_err(|e| ("Mach-O", e))?;
        return Ok(format!("Mach-O {cpu}"));
    }
    let bad = |e| ("Mach-O universal", e);
    let slices = slices(bytes).map_err(bad)?;
    let names: Vec<String> = slices.iter().map(|s| s.0.to_string()).collect();
    let names = names.join(", ");
    if !slices.iter().any(|s| s.0 == want) {
        out.push(problem("cpu", format!("a slice for {want}"), names.clone()));
    }
    for (cpu, data) in slices {
        let data = data.ok_or_else(|| bad("Invalid fat arch offset or size".into()))?;
        match thin_cpu(data) {
            Ok(found) if found == cpu => {}
            found => {
                let found =
                    found.map_or_else(|e| format!("malformed Mach-O ({e})"), |f| f.to_string());
                let expected = format!("the {cpu} slice to hold {cpu} code");
                out.push(problem("universal", expected, found));
                continue;
            }
        }
        slice_rules(data, Some(cpu), floors, out).map_err(bad)?;
    }
    Ok(format!("Mach-O universal ({names})"))
}

/// The slices a universal binary lists, by its fat_arch (or fat_arch_64) table.
fn slices(bytes: &[u8]) -> Result<Slices<'_>, String> {
    fn each<'a, A: FatArch>(bytes: &'a [u8]) -> Result<Slices<'a>, String> {
        let fat = MachOFatFile::<A>::parse(bytes).map_err(|e| e.to_string())?;
        let slices = fat.arches().iter().map(|a| {
            let cpu = cpu(a.cputype(), a.cpusubtype());
            (cpu, a.data(bytes).ok())
        });
        Ok(slices.collect())
    }
    match bytes.get(3) {
        Some(0xbf) => each::<FatArch64>(bytes),
        _ => each::<FatArch32>(bytes),
    }
}

/// The CPU a thin Mach-O is for, whatever its word size or byte order.
fn thin_cpu(data: &[u8]) -> Result<Cpu, String> {
    fn header<M: MachHeader<Endian = Endianness>>(data: &[u8]) -> Result<Cpu, String> {
        let h = M::parse(data, 0).map_err(|e| e.to_string())?;
        let e = h.endian().map_err(|e| e.to_string())?;
        Ok(cpu(h.cputype(e), h.cpusubtype(e)))
    }
    match is_64(data) {
        true => header::<MachHeader64<Endianness>>(data),
        false => header::<MachHeader32<Endianness>>(data),
    }
}

fn is_64(data: &[u8]) -> bool {
    let magic = data
        .get(..4)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    matches!(magic, Some(macho::MH_MAGIC_64 | macho::MH_CIGAM_64))
}

/// arm64e is not arm64: macOS runs third-party arm64e code only with a boot argument.
fn cpu(cputype: macho::CpuType, subtype: macho::CpuSubtype) -> Cpu {
    match cputype {
        macho::CPU_TYPE_X86_64 => Cpu::X86_64,
        macho::CPU_TYPE_ARM64 if subtype.id() == macho::CPU_SUBTYPE_ARM64E => Cpu::Named("arm64e"),
        macho::CPU_TYPE_ARM64 => Cpu::Aarch64,
        macho::CPU_TYPE_X86 => Cpu::Named("i386"),
        macho::CPU_TYPE_ARM => Cpu::Named("arm"),
        macho::CPU_TYPE_ARM64_32 => Cpu::Named("arm64_32"),
        macho::CPU_TYPE_POWERPC => Cpu::Named("ppc"),
        macho::CPU_TYPE_POWERPC64 => Cpu::Named("ppc64"),
        other => Cpu::Other(other.0),
    }
}

const SYSTEM_DYLIB_DIRS: [&str; 2] = ["/usr/lib/", "/System/Library/"];

/// Signature, dylibs, minimum OS, file type and completeness of one thin Mach-O.
/// `slice` names it inside a universal binary.
fn slice_rules(
    data: &[u8],
    slice: Option<Cpu>,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Result<(), String> {
    let at = |found: String| match slice {
        Some(s) => format!("{found} in the {s} slice"),
        None => found,
    };
    if !is_64(data) {
        // 32-bit: the cpu rule has already failed it; nothing else applies.
        return Ok(());
    }
    let text = |e: object::read::Error| e.to_string();
    let header = MachHeader64::<Endianness>::parse(data, 0).map_err(text)?;
    let e = header.endian().map_err(text)?;
    let filetype = header.filetype(e);
    if filetype != macho::MH_EXECUTE {
        let found = format!("file type {}", filetype.0);
        out.push(problem("kind", "an executable (MH_EXECUTE)", at(found)));
    }
    let arm64 = header.cputype(e) == macho::CPU_TYPE_ARM64;
    let (mut signature, mut minos, mut end) = (None, None, 0u64);
    let mut commands = header.load_commands(e, data, 0).map_err(text)?;
    while let Some(cmd) = commands.next().map_err(text)? {
        match cmd.variant().map_err(text)? {
            LoadCommandVariant::LinkeditData(l) if cmd.cmd() == macho::LC_CODE_SIGNATURE => {
                signature = Some(l);
            }
            LoadCommandVariant::Dylib(d) => {
                let path = cmd.string(e, d.dylib.name).map_err(text)?;
                let path = String::from_utf8_lossy(path);
                if !SYSTEM_DYLIB_DIRS.iter().any(|dir| path.starts_with(dir)) {
                    let expected = "a system library under /usr/lib/ or /System/Library/";
                    out.push(problem("dylib", expected, at(path.into_owned())));
                }
            }
            LoadCommandVariant::BuildVersion(b, _) => {
                let platform = b.platform.get(e);
                if platform != macho::PLATFORM_MACOS {
                    let found = format!("platform {}", platform.0);
                    out.push(problem("platform", "macOS", at(found)));
                }
                minos = Some(b.minos.get(e).0);
            }
            LoadCommandVariant::VersionMin(v) if cmd.cmd() == macho::LC_VERSION_MIN_MACOSX => {
                minos = minos.or(Some(v.version.get(e).0));
            }
            LoadCommandVariant::Segment64(s, _) => {
                let seg_end = s.fileoff.get(e).saturating_add(s.filesize.get(e));
                end = end.max(seg_end);
            }
            _ => {}
        }
    }
    match signature {
        Some(l) => out.extend(codesign::verify(data, e, l).into_iter().map(|p| Problem {
            found: at(p.found),
            ..p
        })),
        None if arm64 => {
            let expected =
                "LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 code; ad-hoc is enough)";
            out.push(problem("code signature", expected, at("none".into())));
        }
        None => {}
    }
    if let Some(v) = minos {
        let (major, minor, patch) = (v >> 16, (v >> 8) & 0xff, v & 0xff);
        if (major, minor, patch) > (floors.macos.0, floors.macos.1, 0) {
            let expected = format!("{}.{} or older", floors.macos.0, floors.macos.1);
            let mut found = format!("{major}.{minor}");
            if patch != 0 {
                found += &format!(".{patch}");
            }
            out.push(problem("minimum macOS", expected, at(found)));
        }
    }
    if end > data.len() as u64 {
        out.push(truncated(end, data.len(), "segment", slice));
    }
    Ok(())
}

/// Synthetic Mach-O files: just the header and load commands the rules read.
#[cfg(test)]
pub(super) mod tests {
    use super::super::{check, Os};
    use super::*;

    pub(in crate::binfmt) const CPU_TYPE_X86_64: u32 = macho::CPU_TYPE_X86_64.0;
    pub(in crate::binfmt) const CPU_TYPE_ARM64: u32 = macho::CPU_TYPE_ARM64.0;
    const CPU_TYPE_X86: u32 = macho::CPU_TYPE_X86.0;
    const CPU_SUBTYPE_ARM64E: u32 = macho::CPU_SUBTYPE_ARM64E.0;
    const MH_MAGIC: u32 = macho::MH_MAGIC;
    const MH_MAGIC_64: u32 = macho::MH_MAGIC_64;
    const MH_EXECUTE: u32 = macho::MH_EXECUTE.0;
    const FAT_MAGIC: u32 = macho::FAT_MAGIC;
    const LC_LOAD_DYLIB: u32 = macho::LC_LOAD_DYLIB.0;
    const LC_BUILD_VERSION: u32 = macho::LC_BUILD_VERSION.0;
    const LC_CODE_SIGNATURE: u32 = macho::LC_CODE_SIGNATURE.0;
    const PLATFORM_MACOS: u32 = macho::PLATFORM_MACOS.0;

    fn lc(cmd: u32, body: &[u8]) -> Vec<u8> {
        let size = (8 + body.len()).next_multiple_of(8);
        let mut v = cmd.to_le_bytes().to_vec();
        v.extend((size as u32).to_le_bytes());
        v.extend(body);
        v.resize(size, 0);
        v
    }

    pub(in crate::binfmt) fn dylib(path: &str) -> Vec<u8> {
        // dylib_command: name offset (24), timestamp, current and compatibility versions
        let mut body = 24u32.to_le_bytes().to_vec();
        body.extend([0; 12]);
        body.extend(path.as_bytes());
        body.push(0);
        lc(LC_LOAD_DYLIB, &body)
    }

    pub(in crate::binfmt) fn minos(major: u32, minor: u32) -> Vec<u8> {
        let mut body = PLATFORM_MACOS.to_le_bytes().to_vec();
        body.extend((major << 16 | minor << 8).to_le_bytes());
        body.extend((15u32 << 16).to_le_bytes()); // sdk
        body.extend(0u32.to_le_bytes()); // ntools
        lc(LC_BUILD_VERSION, &body)
    }

    /// Filled in by [`thin`], which signs the file.
    pub(in crate::binfmt) fn signature() -> Vec<u8> {
        lc(LC_CODE_SIGNATURE, &[0; 8])
    }

    pub(in crate::binfmt) fn thin(cputype: u32, cmds: &[Vec<u8>]) -> Vec<u8> {
        thin_subtype(cputype, 0, cmds)
    }

    fn thin_subtype(cputype: u32, subtype: u32, cmds: &[Vec<u8>]) -> Vec<u8> {
        let sizeofcmds: usize = cmds.iter().map(Vec::len).sum();
        let mut v = Vec::new();
        for word in [
            MH_MAGIC_64,
            cputype,
            subtype,
            MH_EXECUTE,
            cmds.len() as u32,
            sizeofcmds as u32,
            0,
            0,
        ] {
            v.extend(word.to_le_bytes());
        }
        let mut at = v.len();
        let mut signature_at = None;
        for c in cmds {
            if c[..4] == LC_CODE_SIGNATURE.to_le_bytes() {
                signature_at = Some(at);
            }
            at += c.len();
            v.extend(c);
        }
        match signature_at {
            Some(cmd) => sign(v, cmd),
            None => v,
        }
    }

    /// An ad-hoc signature as ld64 and zig write it: a super blob holding one SHA-256 code
    /// directory over 4 KiB pages, appended at a 16-byte boundary; `cmd` is where the
    /// LC_CODE_SIGNATURE command is, patched to point at it before the pages are hashed.
    pub(in crate::binfmt) fn sign(mut v: Vec<u8>, cmd: usize) -> Vec<u8> {
        v.resize(v.len().next_multiple_of(16), 0);
        let limit = v.len();
        let pages = limit.div_ceil(4096);
        let (cd_at, ident) = (20, b"x\0");
        let hash_offset = 44 + ident.len();
        let cd_len = hash_offset + 32 * pages;
        let blob_len = cd_at + cd_len;
        v[cmd + 8..cmd + 12].copy_from_slice(&(limit as u32).to_le_bytes());
        v[cmd + 12..cmd + 16].copy_from_slice(&(blob_len as u32).to_le_bytes());
        let mut blob = Vec::new();
        for word in [0xfade_0cc0, blob_len as u32, 1, 0, cd_at as u32] {
            blob.extend(u32::to_be_bytes(word));
        }
        // CodeDirectory version 0x20001: the fixed fields, nothing optional.
        let words = [
            0xfade_0c02,
            cd_len as u32,
            0x20001,
            2,
            hash_offset as u32,
            44,
            0,
        ];
        words.iter().for_each(|w| blob.extend(w.to_be_bytes()));
        blob.extend((pages as u32).to_be_bytes());
        blob.extend((limit as u32).to_be_bytes());
        blob.extend([32, 2, 0, 12]); // hashSize, hashType SHA-256, platform, pageSize 2^12
        blob.extend([0; 4]);
        blob.extend(ident);
        for page in v.chunks(4096) {
            blob.extend(<sha2::Sha256 as sha2::Digest>::digest(page));
        }
        v.extend(blob);
        v
    }

    /// A universal binary: FAT_MAGIC header, then each slice at a 2^14 boundary.
    pub(in crate::binfmt) fn fat(slices: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut v = FAT_MAGIC.to_be_bytes().to_vec();
        v.extend((slices.len() as u32).to_be_bytes());
        let mut offset = 1 << 14;
        for (cputype, data) in slices {
            for word in [*cputype, 0, offset, data.len() as u32, 14] {
                v.extend(word.to_be_bytes());
            }
            offset = (offset + data.len() as u32).next_multiple_of(1 << 14);
        }
        for (_, data) in slices {
            v.resize(v.len().next_multiple_of(1 << 14), 0);
            v.extend(data);
        }
        v
    }

    fn problems(bytes: &[u8], cpu: Cpu, floors: &Floors) -> Vec<String> {
        let r = check(bytes, Os::Darwin, cpu, floors);
        r.problems.iter().map(ToString::to_string).collect()
    }

    fn good_arm64() -> Vec<u8> {
        let cmds = [
            dylib("/usr/lib/libSystem.B.dylib"),
            minos(13, 0),
            signature(),
        ];
        thin(CPU_TYPE_ARM64, &cmds)
    }

    #[test]
    fn a_signed_arm64_linking_only_the_system_passes() {
        let r = check(&good_arm64(), Os::Darwin, Cpu::Aarch64, &Floors::default());
        assert_eq!((r.format.as_str(), r.problems), ("Mach-O arm64", vec![]));
    }

    #[test]
    fn each_rule_reports_one_line() {
        let f = Floors::default();
        let unsigned = thin(CPU_TYPE_ARM64, &[minos(13, 0)]);
        assert_eq!(
            problems(&unsigned, Cpu::Aarch64, &f),
            [
                "code signature: expected LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 \
              code; ad-hoc is enough), found none"
            ]
        );
        let x86_unsigned = thin(CPU_TYPE_X86_64, &[minos(10, 12)]);
        assert!(problems(&x86_unsigned, Cpu::X86_64, &f).is_empty());
        assert_eq!(
            problems(&x86_unsigned, Cpu::Aarch64, &f),
            ["cpu: expected arm64, found x86_64"]
        );
        let brew = thin(
            CPU_TYPE_X86_64,
            &[
                dylib("/opt/homebrew/lib/libfoo.dylib"),
                dylib("@rpath/libbar.dylib"),
            ],
        );
        assert_eq!(
            problems(&brew, Cpu::X86_64, &f),
            [
                "dylib: expected a system library under /usr/lib/ or /System/Library/, found \
                 /opt/homebrew/lib/libfoo.dylib",
                "dylib: expected a system library under /usr/lib/ or /System/Library/, found \
                 @rpath/libbar.dylib"
            ]
        );
        let new = thin(CPU_TYPE_X86_64, &[minos(15, 1)]);
        assert_eq!(
            problems(&new, Cpu::X86_64, &f),
            ["minimum macOS: expected 14.0 or older, found 15.1"]
        );
        let later = Floors {
            macos: (15, 1),
            ..f
        };
        assert!(problems(&new, Cpu::X86_64, &later).is_empty());
    }

    #[test]
    fn a_universal_binary_is_accepted_for_each_cpu_it_holds() {
        let x86 = thin(CPU_TYPE_X86_64, &[minos(13, 0)]);
        let both = fat(&[
            (CPU_TYPE_X86_64, x86.clone()),
            (CPU_TYPE_ARM64, good_arm64()),
        ]);
        for cpu in [Cpu::X86_64, Cpu::Aarch64] {
            let r = check(&both, Os::Darwin, cpu, &Floors::default());
            assert_eq!(r.format, "Mach-O universal (x86_64, arm64)");
            assert_eq!(r.problems, []);
        }
        let only_x86 = fat(&[(CPU_TYPE_X86_64, x86.clone())]);
        assert_eq!(
            problems(&only_x86, Cpu::Aarch64, &Floors::default()),
            ["cpu: expected a slice for arm64, found x86_64"]
        );
        let unsigned = thin(CPU_TYPE_ARM64, &[]);
        let bad_slice = fat(&[(CPU_TYPE_X86_64, x86.clone()), (CPU_TYPE_ARM64, unsigned)]);
        assert_eq!(
            problems(&bad_slice, Cpu::X86_64, &Floors::default()),
            [
                "code signature: expected LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 \
              code; ad-hoc is enough), found none in the arm64 slice"
            ]
        );
        let mislabelled = fat(&[(CPU_TYPE_ARM64, x86)]);
        assert_eq!(
            problems(&mislabelled, Cpu::Aarch64, &Floors::default()),
            ["universal: expected the arm64 slice to hold arm64 code, found x86_64"]
        );
    }

    #[test]
    fn arm64e_and_32_bit_slices_do_not_count_as_arm64() {
        let cmds = [minos(13, 0), signature()];
        let e = thin_subtype(CPU_TYPE_ARM64, CPU_SUBTYPE_ARM64E, &cmds);
        assert_eq!(
            problems(&e, Cpu::Aarch64, &Floors::default()),
            ["cpu: expected arm64, found arm64e"]
        );
        let mut i386 = thin(CPU_TYPE_X86, &[]);
        i386[..4].copy_from_slice(&MH_MAGIC.to_le_bytes());
        assert_eq!(
            problems(&i386, Cpu::X86_64, &Floors::default()),
            ["cpu: expected x86_64, found i386"]
        );
    }
}
