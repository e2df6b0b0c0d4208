//! Mach-O rules: thin or universal, each slice checked by the same rules.

use super::{problem, sniff, truncated, Bad, Cpu, Floors, Kind, Parsed, Problem};
use crate::bytes::{Endian, Reader};

// Mach-O, from Apple's <mach-o/loader.h>, <mach-o/fat.h> and <mach/machine.h>
// (https://github.com/apple-oss-distributions/xnu/tree/main/EXTERNAL_HEADERS/mach-o and
// osfmk/mach/machine.h). Magics are as read big-endian from the first four bytes.
pub(super) const MH_MAGIC: u32 = 0xfeed_face;
pub(super) const MH_CIGAM: u32 = 0xcefa_edfe;
pub(super) const MH_MAGIC_64: u32 = 0xfeed_facf;
pub(super) const MH_CIGAM_64: u32 = 0xcffa_edfe;
pub(super) const FAT_MAGIC: u32 = 0xcafe_babe;
pub(super) const FAT_MAGIC_64: u32 = 0xcafe_babf;
const CPU_ARCH_ABI64: u32 = 0x0100_0000;
const CPU_ARCH_ABI64_32: u32 = 0x0200_0000;
const CPU_TYPE_X86: u32 = 7;
pub(super) const CPU_TYPE_X86_64: u32 = CPU_TYPE_X86 | CPU_ARCH_ABI64;
const CPU_TYPE_ARM: u32 = 12;
pub(super) const CPU_TYPE_ARM64: u32 = CPU_TYPE_ARM | CPU_ARCH_ABI64;
const CPU_TYPE_ARM64_32: u32 = CPU_TYPE_ARM | CPU_ARCH_ABI64_32;
const CPU_TYPE_POWERPC: u32 = 18;
const CPU_TYPE_POWERPC64: u32 = CPU_TYPE_POWERPC | CPU_ARCH_ABI64;
/// The capability bits of a cpusubtype; the rest is the subtype proper.
const CPU_SUBTYPE_MASK: u32 = 0xff00_0000;
const CPU_SUBTYPE_ARM64E: u32 = 2;
const MH_EXECUTE: u32 = 2;
/// Set on load commands dyld must understand to load the image at all.
const LC_REQ_DYLD: u32 = 0x8000_0000;
const LC_LOAD_DYLIB: u32 = 0xc;
const LC_LOAD_WEAK_DYLIB: u32 = 0x18 | LC_REQ_DYLD;
const LC_SEGMENT_64: u32 = 0x19;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_REEXPORT_DYLIB: u32 = 0x1f | LC_REQ_DYLD;
const LC_LAZY_LOAD_DYLIB: u32 = 0x20;
const LC_LOAD_UPWARD_DYLIB: u32 = 0x23 | LC_REQ_DYLD;
const LC_VERSION_MIN_MACOSX: u32 = 0x24;
const LC_BUILD_VERSION: u32 = 0x32;
const PLATFORM_MACOS: u32 = 1;
/// Sizes: mach_header_64, load_command, dylib_command, build_version_command,
/// build_tool_version, version_min_command, segment_command_64, fat_arch, fat_arch_64.
const MACH_HEADER_64: u64 = 32;
const LOAD_COMMAND: u64 = 8;
const DYLIB_COMMAND: u64 = 24;
const BUILD_VERSION_COMMAND: u64 = 24;
const BUILD_TOOL_VERSION: u64 = 8;
const VERSION_MIN_COMMAND: u64 = 16;
const SEGMENT_COMMAND_64: u64 = 72;
const FAT_ARCH: u64 = 20;
const FAT_ARCH_64: u64 = 32;

pub(super) fn check(
    bytes: &[u8],
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Parsed<String> {
    let slices = match sniff(bytes) {
        Some(Kind::Fat32) => fat_slices(bytes, false),
        Some(Kind::Fat64) => fat_slices(bytes, true),
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

/// The slices a universal binary lists: fat_header, then `nfat_arch` fat_arch (or, with
/// `wide`, fat_arch_64) entries, all big-endian.
fn fat_slices(bytes: &[u8], wide: bool) -> Result<Vec<Slice<'_>>, Bad> {
    const COUNT: Bad = Bad("Invalid nfat_arch");
    let r = Reader::new(bytes, Endian::Big);
    let nfat_arch = r
        .u32(4)
        .ok_or(Bad("Invalid fat header size or alignment"))?;
    let size = if wide { FAT_ARCH_64 } else { FAT_ARCH };
    let table = r.slice(8, u64::from(nfat_arch) * size).ok_or(COUNT)?;
    let mut slices = Vec::new();
    for at in (0..u64::from(nfat_arch)).map(|i| i * size) {
        let (cputype, subtype) = (table.u32(at).ok_or(COUNT)?, table.u32(at + 4).ok_or(COUNT)?);
        let (offset, len) = match wide {
            true => (table.u64(at + 8), table.u64(at + 16)),
            false => (
                table.u32(at + 8).map(u64::from),
                table.u32(at + 12).map(u64::from),
            ),
        };
        let data = r
            .bytes(offset.ok_or(COUNT)?, len.ok_or(COUNT)?)
            .ok_or(Bad("Invalid fat arch offset or size"))?;
        let (name, cpu) = describe(cputype, subtype);
        slices.push((name, cpu, data));
    }
    Ok(slices)
}

/// The CPU a thin Mach-O is for, whatever its word size or byte order.
fn thin_arch(data: &[u8]) -> Result<(String, Option<Cpu>), Bad> {
    const SHORT: Bad = Bad("Invalid Mach-O header size");
    if data.len() < 8 {
        return Err(SHORT);
    }
    let e = match data.get(..4) {
        Some([0xfe, 0xed, 0xfa, _]) => Endian::Big,
        Some([_, 0xfa, 0xed, 0xfe]) => Endian::Little,
        _ => return Err(Bad("Unsupported Mach-O header")),
    };
    let r = Reader::new(data, e);
    Ok(describe(r.u32(4).ok_or(SHORT)?, r.u32(8).ok_or(SHORT)?))
}

/// arm64e is not arm64: macOS runs third-party arm64e code only with a boot argument.
fn describe(cputype: u32, subtype: u32) -> (String, Option<Cpu>) {
    let arm64e = subtype & !CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E;
    let name = match cputype {
        CPU_TYPE_X86_64 => return ("x86_64".into(), Some(Cpu::X86_64)),
        CPU_TYPE_ARM64 if arm64e => "arm64e",
        CPU_TYPE_ARM64 => return ("arm64".into(), Some(Cpu::Aarch64)),
        CPU_TYPE_X86 => "i386",
        CPU_TYPE_ARM => "arm",
        CPU_TYPE_ARM64_32 => "arm64_32",
        CPU_TYPE_POWERPC => "ppc",
        CPU_TYPE_POWERPC64 => "ppc64",
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
    let e = match Reader::new(data, Endian::Big).u32(0) {
        // 32-bit: the cpu rule has already failed it; nothing else applies.
        Some(MH_MAGIC | MH_CIGAM) => return Ok(()),
        _ if (data.len() as u64) < MACH_HEADER_64 => {
            return Err(Bad("Invalid Mach-O header size or alignment"))
        }
        Some(MH_MAGIC_64) => Endian::Big,
        Some(MH_CIGAM_64) => Endian::Little,
        _ => return Err(Bad("Unsupported Mach-O header")),
    };
    let header = Reader::new(data, e);
    let field = |off| {
        header
            .u32(off)
            .ok_or(Bad("Invalid Mach-O header size or alignment"))
    };
    let filetype = field(12)?;
    if filetype != MH_EXECUTE {
        let found = format!("file type {filetype}");
        out.push(problem("kind", "an executable (MH_EXECUTE)", at(found)));
    }
    let arm64 = field(4)? == CPU_TYPE_ARM64;
    let (mut signed, mut minos, mut end) = (false, None, 0u64);
    let (ncmds, sizeofcmds) = (field(16)?, field(20)?);
    let mut rest = header
        .bytes(MACH_HEADER_64, u64::from(sizeofcmds))
        .ok_or(Bad("Invalid Mach-O load command table size"))?;
    for _ in 0..ncmds {
        let (cmd, after) = load_command(rest, e)?;
        rest = after;
        let len = cmd.data().len() as u64;
        let need = |size| (len >= size).then_some(()).ok_or(SHORT_COMMAND);
        let field = |off| cmd.u32(off).ok_or(SHORT_COMMAND);
        match field(0)? {
            LC_CODE_SIGNATURE => signed = true,
            LC_LOAD_DYLIB | LC_LOAD_WEAK_DYLIB | LC_REEXPORT_DYLIB | LC_LAZY_LOAD_DYLIB
            | LC_LOAD_UPWARD_DYLIB => {
                need(DYLIB_COMMAND)?;
                // The name is an lc_str: an offset from the command's start.
                let path = cmd
                    .c_str(u64::from(field(8)?))
                    .ok_or(Bad("Invalid load command string offset"))?;
                let path = String::from_utf8_lossy(path);
                if !SYSTEM_DYLIB_DIRS.iter().any(|dir| path.starts_with(dir)) {
                    let expected = "a system library under /usr/lib/ or /System/Library/";
                    out.push(problem("dylib", expected, at(path.into_owned())));
                }
            }
            LC_BUILD_VERSION => {
                need(BUILD_VERSION_COMMAND)?;
                let tools = u64::from(field(20)?) * BUILD_TOOL_VERSION;
                if BUILD_VERSION_COMMAND + tools > len {
                    return Err(Bad("Invalid Mach-O number of tools"));
                }
                let platform = field(8)?;
                if platform != PLATFORM_MACOS {
                    let found = format!("platform {platform}");
                    out.push(problem("platform", "macOS", at(found)));
                }
                minos = Some(field(12)?);
            }
            LC_VERSION_MIN_MACOSX => {
                need(VERSION_MIN_COMMAND)?;
                minos = minos.or(Some(field(8)?));
            }
            LC_SEGMENT_64 => {
                need(SEGMENT_COMMAND_64)?;
                let field = |off| cmd.u64(off).ok_or(SHORT_COMMAND);
                end = end.max(field(40)?.saturating_add(field(48)?));
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

/// A command shorter than its kind's fixed fields.
const SHORT_COMMAND: Bad = Bad("Invalid Mach-O command size");

/// The next load command (cmd, cmdsize, then its body) and the commands after it.
fn load_command(rest: &[u8], e: Endian) -> Result<(Reader<'_>, &[u8]), Bad> {
    let cmdsize = Reader::new(rest, e)
        .u32(4)
        .ok_or(Bad("Invalid Mach-O load command header"))?;
    let (cmd, after) = usize::try_from(cmdsize)
        .ok()
        .filter(|&n| n as u64 >= LOAD_COMMAND)
        .and_then(|n| rest.split_at_checked(n))
        .ok_or(Bad("Invalid Mach-O load command size"))?;
    Ok((Reader::new(cmd, e), after))
}

const SYSTEM_DYLIB_DIRS: [&str; 2] = ["/usr/lib/", "/System/Library/"];

/// Synthetic Mach-O files: just the header and load commands the rules read.
#[cfg(test)]
pub(super) mod tests {
    use super::super::{check, HostOs};
    use super::*;

    fn lc(cmd: u32, body: &[u8]) -> Vec<u8> {
        let size = (8 + body.len()).next_multiple_of(8);
        let mut v = cmd.to_le_bytes().to_vec();
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
        lc(LC_LOAD_DYLIB, &body)
    }

    pub(in crate::loadable) fn minos(major: u32, minor: u32) -> Vec<u8> {
        let mut body = PLATFORM_MACOS.to_le_bytes().to_vec();
        body.extend((major << 16 | minor << 8).to_le_bytes());
        body.extend((15u32 << 16).to_le_bytes()); // sdk
        body.extend(0u32.to_le_bytes()); // ntools
        lc(LC_BUILD_VERSION, &body)
    }

    pub(in crate::loadable) fn signature() -> Vec<u8> {
        lc(LC_CODE_SIGNATURE, &[0; 8])
    }

    pub(in crate::loadable) fn thin(cputype: u32, cmds: &[Vec<u8>]) -> Vec<u8> {
        let sizeofcmds: usize = cmds.iter().map(Vec::len).sum();
        let mut v = Vec::new();
        for word in [
            MH_MAGIC_64,
            cputype,
            0,
            MH_EXECUTE,
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
    pub(in crate::loadable) fn fat(slices: &[(u32, Vec<u8>)]) -> Vec<u8> {
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
        let r = check(bytes, HostOs::Darwin, cpu, floors);
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
            let r = check(&both, HostOs::Darwin, cpu, &Floors::default());
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
        let mut e = good_arm64();
        e[8..12].copy_from_slice(&CPU_SUBTYPE_ARM64E.to_le_bytes());
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
