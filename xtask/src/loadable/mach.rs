//! Mach-O rules: thin or universal, each slice checked by the same rules.

use object::macho::{self, MachHeader64};
use object::read::macho::{FatArch, MachHeader, MachOFatFile, MachOFatFile32, MachOFatFile64};
use object::Endianness;

use super::{problem, sniff, truncated, Bad, Cpu, Floors, Kind, Parsed, Problem};

pub(super) fn check(
    bytes: &[u8],
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Parsed<String> {
    let slices = match sniff(bytes) {
        Some(Kind::Fat32) => fat_slices(MachOFatFile32::parse(bytes), bytes),
        Some(Kind::Fat64) => fat_slices(MachOFatFile64::parse(bytes), bytes),
        _ => {
            let (name, cpu) = thin_arch(bytes).map_err(|e| ("Mach-O", e))?;
            if cpu != Some(want) {
                out.push(problem("cpu", arch_name(want), name.clone()));
            }
            slice_rules(bytes, None, floors, out).map_err(|e| ("Mach-O", e))?;
            return Ok(format!("Mach-O {name}"));
        }
    }
    .map_err(|e| ("Mach-O universal", e))?;
    let names = slices
        .iter()
        .map(|s| s.0.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !slices.iter().any(|s| s.1 == Some(want)) {
        let expected = format!("a slice for {}", arch_name(want));
        out.push(problem("cpu", expected, names.clone()));
    }
    for (name, _, data) in &slices {
        match thin_arch(data) {
            Ok((n, _)) if n == *name => {}
            found => {
                let found = found.map_or_else(|e| format!("malformed Mach-O ({e})"), |f| f.0);
                let expected = format!("the {name} slice to hold {name} code");
                out.push(problem("universal", expected, found));
                continue;
            }
        }
        slice_rules(data, Some(name), floors, out).map_err(|e| ("Mach-O universal", e))?;
    }
    Ok(format!("Mach-O universal ({names})"))
}

/// Each slice's CPU name, the CPU it runs as, and its bytes.
type Slice<'a> = (String, Option<Cpu>, &'a [u8]);

fn fat_slices<'a, A: FatArch>(
    fat: object::Result<MachOFatFile<'a, A>>,
    bytes: &'a [u8],
) -> Result<Vec<Slice<'a>>, Bad> {
    let mut slices = Vec::new();
    for arch in fat?.arches() {
        let (name, cpu) = describe(arch.cputype().0, arch.cpusubtype().0);
        slices.push((name, cpu, arch.data(bytes)?));
    }
    Ok(slices)
}

/// The CPU a thin Mach-O is for, whatever its word size or byte order.
fn thin_arch(data: &[u8]) -> Result<(String, Option<Cpu>), Bad> {
    let word = |at: usize| -> Result<u32, Bad> {
        let b: [u8; 4] = data
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(Bad("Invalid Mach-O header size".into()))?;
        Ok(match data[..4] {
            [0xfe, 0xed, 0xfa, _] => u32::from_be_bytes(b),
            [_, 0xfa, 0xed, 0xfe] => u32::from_le_bytes(b),
            _ => return Err(Bad("Unsupported Mach-O header".into())),
        })
    };
    Ok(describe(word(4)?, word(8)?))
}

/// arm64e is not arm64: macOS runs third-party arm64e code only with a boot argument.
fn describe(cputype: u32, subtype: u32) -> (String, Option<Cpu>) {
    let arm64e = subtype & !macho::CPU_SUBTYPE_MASK == macho::CPU_SUBTYPE_ARM64E.0;
    let name = match macho::CpuType(cputype) {
        macho::CPU_TYPE_X86_64 => return ("x86_64".into(), Some(Cpu::X86_64)),
        macho::CPU_TYPE_ARM64 if arm64e => "arm64e",
        macho::CPU_TYPE_ARM64 => return ("arm64".into(), Some(Cpu::Aarch64)),
        macho::CPU_TYPE_X86 => "i386",
        macho::CPU_TYPE_ARM => "arm",
        macho::CPU_TYPE_ARM64_32 => "arm64_32",
        macho::CPU_TYPE_POWERPC => "ppc",
        macho::CPU_TYPE_POWERPC64 => "ppc64",
        _ => return (format!("cputype {cputype:#x}"), None),
    };
    (name.into(), None)
}

fn arch_name(cpu: Cpu) -> &'static str {
    match cpu {
        Cpu::X86_64 => "x86_64",
        Cpu::Aarch64 => "arm64",
    }
}

/// Signature, dylibs, minimum OS, file type and completeness of one thin Mach-O.
/// `slice` names it inside a universal binary.
fn slice_rules(
    data: &[u8],
    slice: Option<&str>,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Result<(), Bad> {
    let at = |found: String| match slice {
        Some(s) => format!("{found} in the {s} slice"),
        None => found,
    };
    let header = match MachHeader64::<Endianness>::parse(data, 0) {
        Ok(h) => h,
        // 32-bit: the cpu rule has already failed it; nothing else applies.
        Err(_)
            if matches!(
                data.get(..4),
                Some([0xfe, 0xed, 0xfa, 0xce] | [0xce, 0xfa, 0xed, 0xfe])
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e.into()),
    };
    let e = header.endian()?;
    if header.filetype(e) != macho::MH_EXECUTE {
        let found = format!("file type {}", header.filetype(e).0);
        out.push(problem("kind", "an executable (MH_EXECUTE)", at(found)));
    }
    let arm64 = header.cputype(e) == macho::CPU_TYPE_ARM64;
    let (mut signed, mut minos, mut end) = (false, None, 0u64);
    let mut cmds = header.load_commands(e, data, 0)?;
    while let Some(cmd) = cmds.next()? {
        match cmd.cmd() {
            macho::LC_CODE_SIGNATURE => signed = true,
            macho::LC_LOAD_DYLIB
            | macho::LC_LOAD_WEAK_DYLIB
            | macho::LC_REEXPORT_DYLIB
            | macho::LC_LAZY_LOAD_DYLIB
            | macho::LC_LOAD_UPWARD_DYLIB => {
                if let Some(d) = cmd.dylib()? {
                    let path = String::from_utf8_lossy(cmd.string(e, d.dylib.name)?);
                    if !SYSTEM_DYLIB_DIRS.iter().any(|dir| path.starts_with(dir)) {
                        let expected = "a system library under /usr/lib/ or /System/Library/";
                        out.push(problem("dylib", expected, at(path.into_owned())));
                    }
                }
            }
            macho::LC_BUILD_VERSION => {
                if let Some((bv, _)) = cmd.build_version(e)? {
                    let platform = bv.platform.get(e);
                    if platform != macho::PLATFORM_MACOS {
                        let found = format!("platform {}", platform.0);
                        out.push(problem("platform", "macOS", at(found)));
                    }
                    minos = Some(bv.minos.get(e).0);
                }
            }
            macho::LC_VERSION_MIN_MACOSX => {
                let vm = cmd.data::<macho::VersionMinCommand<Endianness>>()?;
                minos = minos.or(Some(vm.version.get(e).0));
            }
            macho::LC_SEGMENT_64 => {
                if let Some((seg, _)) = cmd.segment_64()? {
                    end = end.max(seg.fileoff.get(e).saturating_add(seg.filesize.get(e)));
                }
            }
            _ => {}
        }
    }
    if arm64 && !signed {
        let expected =
            "LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 code; ad-hoc is enough)";
        out.push(problem("code signature", expected, at("none".into())));
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

const SYSTEM_DYLIB_DIRS: [&str; 2] = ["/usr/lib/", "/System/Library/"];

/// Synthetic Mach-O files: just the header and load commands the rules read.
#[cfg(test)]
pub(super) mod tests {
    use super::super::{check, HostOs};
    use super::*;

    fn lc(cmd: macho::LoadCommandType, body: &[u8]) -> Vec<u8> {
        let size = (8 + body.len()).next_multiple_of(8);
        let mut v = cmd.0.to_le_bytes().to_vec();
        v.extend((size as u32).to_le_bytes());
        v.extend(body);
        v.resize(size, 0);
        v
    }

    pub(in crate::loadable) fn dylib(path: &str) -> Vec<u8> {
        // dylib_command: name offset (24), timestamp, current and compatibility versions
        let mut body = 24u32.to_le_bytes().to_vec();
        body.extend([0; 12]);
        body.extend(path.as_bytes());
        body.push(0);
        lc(macho::LC_LOAD_DYLIB, &body)
    }

    pub(in crate::loadable) fn minos(major: u32, minor: u32) -> Vec<u8> {
        let mut body = macho::PLATFORM_MACOS.0.to_le_bytes().to_vec();
        body.extend((major << 16 | minor << 8).to_le_bytes());
        body.extend((15u32 << 16).to_le_bytes()); // sdk
        body.extend(0u32.to_le_bytes()); // ntools
        lc(macho::LC_BUILD_VERSION, &body)
    }

    pub(in crate::loadable) fn signature() -> Vec<u8> {
        lc(macho::LC_CODE_SIGNATURE, &[0; 8])
    }

    pub(in crate::loadable) fn thin(cputype: macho::CpuType, cmds: &[Vec<u8>]) -> Vec<u8> {
        let sizeofcmds: usize = cmds.iter().map(Vec::len).sum();
        let mut v = Vec::new();
        for word in [
            macho::MH_MAGIC_64,
            cputype.0,
            0,
            macho::MH_EXECUTE.0,
            cmds.len() as u32,
            sizeofcmds as u32,
            0,
            0,
        ] {
            v.extend(word.to_le_bytes());
        }
        cmds.iter().for_each(|c| v.extend(c));
        v
    }

    /// A universal binary: FAT_MAGIC header, then each slice at a 2^14 boundary.
    pub(in crate::loadable) fn fat(slices: &[(macho::CpuType, Vec<u8>)]) -> Vec<u8> {
        let mut v = macho::FAT_MAGIC.to_be_bytes().to_vec();
        v.extend((slices.len() as u32).to_be_bytes());
        let mut offset = 1 << 14;
        for (cputype, data) in slices {
            for word in [cputype.0, 0, offset, data.len() as u32, 14] {
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
        let r = check(bytes, HostOs::Darwin, cpu, floors);
        r.problems.iter().map(ToString::to_string).collect()
    }

    fn good_arm64() -> Vec<u8> {
        let cmds = [
            dylib("/usr/lib/libSystem.B.dylib"),
            minos(13, 0),
            signature(),
        ];
        thin(macho::CPU_TYPE_ARM64, &cmds)
    }

    #[test]
    fn a_signed_arm64_linking_only_the_system_passes() {
        let r = check(
            &good_arm64(),
            HostOs::Darwin,
            Cpu::Aarch64,
            &Floors::default(),
        );
        assert_eq!((r.format.as_str(), r.problems), ("Mach-O arm64", vec![]));
    }

    #[test]
    fn each_rule_reports_one_line() {
        let f = Floors::default();
        let unsigned = thin(macho::CPU_TYPE_ARM64, &[minos(13, 0)]);
        assert_eq!(
            problems(&unsigned, Cpu::Aarch64, &f),
            [
                "code signature: expected LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 \
              code; ad-hoc is enough), found none"
            ]
        );
        let x86_unsigned = thin(macho::CPU_TYPE_X86_64, &[minos(10, 12)]);
        assert!(problems(&x86_unsigned, Cpu::X86_64, &f).is_empty());
        assert_eq!(
            problems(&x86_unsigned, Cpu::Aarch64, &f),
            ["cpu: expected arm64, found x86_64"]
        );
        let brew = thin(
            macho::CPU_TYPE_X86_64,
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
        let new = thin(macho::CPU_TYPE_X86_64, &[minos(15, 1)]);
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
        let x86 = thin(macho::CPU_TYPE_X86_64, &[minos(13, 0)]);
        let both = fat(&[
            (macho::CPU_TYPE_X86_64, x86.clone()),
            (macho::CPU_TYPE_ARM64, good_arm64()),
        ]);
        for cpu in [Cpu::X86_64, Cpu::Aarch64] {
            let r = check(&both, HostOs::Darwin, cpu, &Floors::default());
            assert_eq!(r.format, "Mach-O universal (x86_64, arm64)");
            assert_eq!(r.problems, []);
        }
        let only_x86 = fat(&[(macho::CPU_TYPE_X86_64, x86.clone())]);
        assert_eq!(
            problems(&only_x86, Cpu::Aarch64, &Floors::default()),
            ["cpu: expected a slice for arm64, found x86_64"]
        );
        let unsigned = thin(macho::CPU_TYPE_ARM64, &[]);
        let bad_slice = fat(&[
            (macho::CPU_TYPE_X86_64, x86.clone()),
            (macho::CPU_TYPE_ARM64, unsigned),
        ]);
        assert_eq!(
            problems(&bad_slice, Cpu::X86_64, &Floors::default()),
            [
                "code signature: expected LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 \
              code; ad-hoc is enough), found none in the arm64 slice"
            ]
        );
        let mislabelled = fat(&[(macho::CPU_TYPE_ARM64, x86)]);
        assert_eq!(
            problems(&mislabelled, Cpu::Aarch64, &Floors::default()),
            ["universal: expected the arm64 slice to hold arm64 code, found x86_64"]
        );
    }

    #[test]
    fn arm64e_and_32_bit_slices_do_not_count_as_arm64() {
        let mut e = good_arm64();
        e[8..12].copy_from_slice(&macho::CPU_SUBTYPE_ARM64E.0.to_le_bytes());
        assert_eq!(
            problems(&e, Cpu::Aarch64, &Floors::default()),
            ["cpu: expected arm64, found arm64e"]
        );
        let mut i386 = thin(macho::CPU_TYPE_X86, &[]);
        i386[..4].copy_from_slice(&macho::MH_MAGIC.to_le_bytes());
        assert_eq!(
            problems(&i386, Cpu::X86_64, &Floors::default()),
            ["cpu: expected x86_64, found i386"]
        );
    }
}
