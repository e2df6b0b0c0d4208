//! PE rules: CPU, console subsystem, minimum Windows, DLLs a stock Windows 10 has.

use super::{problem, truncated, Bad, Cpu, Floors, Parsed, Problem};
use crate::bytes::{Endian, Reader};

// PE, from Microsoft's PE Format specification
// (https://learn.microsoft.com/en-us/windows/win32/debug/pe-format).
const IMAGE_NT_SIGNATURE: [u8; 4] = *b"PE\0\0";
const IMAGE_NT_OPTIONAL_HDR32_MAGIC: u16 = 0x10b;
const IMAGE_NT_OPTIONAL_HDR64_MAGIC: u16 = 0x20b;
const IMAGE_FILE_MACHINE_I386: u16 = 0x014c;
const IMAGE_FILE_MACHINE_ARMNT: u16 = 0x01c4;
const IMAGE_FILE_MACHINE_AMD64: u16 = 0x8664;
const IMAGE_FILE_MACHINE_ARM64EC: u16 = 0xa641;
const IMAGE_FILE_MACHINE_ARM64: u16 = 0xaa64;
const IMAGE_FILE_DLL: u16 = 0x2000;
const IMAGE_SUBSYSTEM_WINDOWS_GUI: u16 = 2;
const IMAGE_SUBSYSTEM_WINDOWS_CUI: u16 = 3;
/// Data directory indices.
const IMAGE_DIRECTORY_ENTRY_IMPORT: u64 = 1;
const IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT: u64 = 13;
/// Where the DOS header keeps e_lfanew, the offset of the PE signature.
const E_LFANEW: u64 = 0x3c;
/// Sizes: signature and COFF file header; the optional header's fixed part
/// (before the data directories) as PE32 and PE32+; a data directory, section header,
/// import descriptor and delay-load descriptor.
const NT_FIXED: u64 = 4 + 20;
const OPTIONAL_HEADER32: u64 = 96;
const OPTIONAL_HEADER64: u64 = 112;
const DATA_DIRECTORY: u64 = 8;
const SECTION_HEADER: u64 = 40;
const IMPORT_DESCRIPTOR: u64 = 20;
const DELAYLOAD_DESCRIPTOR: u64 = 32;
/// The COFF and optional headers are not all there.
const PE_HEADERS: Bad = Bad("Invalid PE headers offset or size");

pub(super) fn check(
    bytes: &[u8],
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Parsed<String> {
    let result = match Headers::parse(bytes, true) {
        Ok(h) => pe_rules(bytes, &h, want, floors, out),
        Err(e64) => match Headers::parse(bytes, false) {
            Ok(h) => pe_rules(bytes, &h, want, floors, out),
            Err(_) => Err(e64),
        },
    };
    result.map_err(|e| ("PE", e))
}

/// The fields the rules read, from a PE32 or PE32+ image (the same offsets in both up to
/// the subsystem), and the section and data directory tables.
struct Headers<'a> {
    coff: Reader<'a>,
    optional: Reader<'a>,
    directories: Reader<'a>,
    sections: Reader<'a>,
}

impl<'a> Headers<'a> {
    /// `wide`: PE32+ (64-bit) rather than PE32.
    fn parse(bytes: &'a [u8], wide: bool) -> Result<Self, Bad> {
        let r = Reader::new(bytes, Endian::Little);
        // e_lfanew is the DOS header's last field: reading it needs the whole header.
        let lfanew = r
            .u32(E_LFANEW)
            .ok_or(Bad("Invalid DOS header size or alignment"))?;
        let fixed = if wide {
            OPTIONAL_HEADER64
        } else {
            OPTIONAL_HEADER32
        };
        let nt = r
            .slice(u64::from(lfanew), NT_FIXED + fixed)
            .ok_or(PE_HEADERS)?;
        let coff = nt.slice(4, NT_FIXED - 4).ok_or(PE_HEADERS)?;
        let optional = nt.slice(NT_FIXED, fixed).ok_or(PE_HEADERS)?;
        if nt.array(0) != Some(IMAGE_NT_SIGNATURE) {
            return Err(Bad("Invalid PE magic"));
        }
        let magic = match wide {
            true => IMAGE_NT_OPTIONAL_HDR64_MAGIC,
            false => IMAGE_NT_OPTIONAL_HDR32_MAGIC,
        };
        if optional.u16(0) != Some(magic) {
            return Err(Bad("Invalid PE optional header magic"));
        }
        let size_of_optional = u64::from(coff.u16(16).ok_or(PE_HEADERS)?);
        let optional_end = u64::from(lfanew) + NT_FIXED + size_of_optional;
        let directories_area = r
            .slice(
                u64::from(lfanew) + NT_FIXED + fixed,
                size_of_optional
                    .checked_sub(fixed)
                    .ok_or(Bad("PE optional header size is too small"))?,
            )
            .ok_or(Bad("Invalid PE optional header size"))?;
        let count = optional.u32(fixed - 4).ok_or(PE_HEADERS)?;
        let directories = directories_area
            .slice(0, u64::from(count) * DATA_DIRECTORY)
            .ok_or(Bad("Invalid PE number of RVA and sizes"))?;
        let nsections = u64::from(coff.u16(2).ok_or(PE_HEADERS)?);
        let sections = r
            .slice(optional_end, nsections * SECTION_HEADER)
            .ok_or(Bad("Invalid COFF/PE section headers"))?;
        Ok(Headers {
            coff,
            optional,
            directories,
            sections,
        })
    }

    /// The RVA of data directory `index`, if the image has one there.
    fn directory(&self, index: u64) -> Option<u32> {
        self.directories
            .u32(index * DATA_DIRECTORY)
            .filter(|&va| va != 0)
    }

    /// Each section header's VirtualSize, VirtualAddress, SizeOfRawData and
    /// PointerToRawData (all inside the table `parse` sized, so the default never shows).
    fn sections(&self) -> impl Iterator<Item = [u32; 4]> + '_ {
        let n = self.sections.data().len() as u64 / SECTION_HEADER;
        (0..n).map(|i| {
            [8, 12, 16, 20].map(|at| {
                let field = self.sections.u32(i * SECTION_HEADER + at);
                field.unwrap_or_default()
            })
        })
    }

    /// The file bytes of the first section whose initialised data holds `va`, and that
    /// section's RVA.
    fn containing(&self, file: &Reader<'a>, va: u32) -> Option<(Reader<'a>, u32)> {
        self.sections()
            .find_map(|[virtual_size, section_va, raw_size, raw_at]| {
                let size = virtual_size.min(raw_size);
                if va.checked_sub(section_va)? >= size {
                    return None;
                }
                Some((file.slice(u64::from(raw_at), u64::from(size))?, section_va))
            })
    }
}

fn pe_rules(
    bytes: &[u8],
    h: &Headers<'_>,
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Result<String, Bad> {
    let field = |r: &Reader<'_>, at| r.u16(at).ok_or(PE_HEADERS);
    let machine = field(&h.coff, 0)?;
    let (name, ok) = match machine {
        IMAGE_FILE_MACHINE_AMD64 => ("AMD64".to_owned(), want == Cpu::X86_64),
        IMAGE_FILE_MACHINE_ARM64 => ("ARM64".to_owned(), want == Cpu::Aarch64),
        IMAGE_FILE_MACHINE_ARM64EC => ("ARM64EC".to_owned(), false),
        IMAGE_FILE_MACHINE_I386 => ("i386".to_owned(), false),
        IMAGE_FILE_MACHINE_ARMNT => ("ARMNT".to_owned(), false),
        m => (format!("machine {m:#06x}"), false),
    };
    if !ok {
        let expected = match want {
            Cpu::X86_64 => "AMD64",
            Cpu::Aarch64 => "ARM64",
        };
        out.push(problem("cpu", expected, name.clone()));
    }
    if field(&h.coff, 18)? & IMAGE_FILE_DLL != 0 {
        out.push(problem("kind", "an executable", "a DLL"));
    }
    match field(&h.optional, 68)? {
        IMAGE_SUBSYSTEM_WINDOWS_CUI => {}
        s => {
            let found = match s {
                IMAGE_SUBSYSTEM_WINDOWS_GUI => GUI.to_owned(),
                s => format!("subsystem {s}"),
            };
            out.push(problem(
                "subsystem",
                "console (IMAGE_SUBSYSTEM_WINDOWS_CUI)",
                found,
            ));
        }
    }
    let floor = floors.windows;
    for (rule, at) in [
        ("minimum Windows (OS version)", 40),
        ("minimum Windows (subsystem version)", 48),
    ] {
        let v = (field(&h.optional, at)?, field(&h.optional, at + 2)?);
        if v > floor {
            let expected = format!("{}.{} or older", floor.0, floor.1);
            out.push(problem(rule, expected, format!("{}.{}", v.0, v.1)));
        }
    }
    let end = h
        .sections()
        .map(|[_, _, raw_size, raw_at]| u64::from(raw_at) + u64::from(raw_size))
        .max()
        .unwrap_or(0);
    if end > bytes.len() as u64 {
        out.push(truncated(end, bytes.len(), "section", None));
        return Ok(format!("PE {name}"));
    }
    let file = Reader::new(bytes, Endian::Little);
    let mut dlls = Vec::new();
    if let Some(va) = h.directory(IMAGE_DIRECTORY_ENTRY_IMPORT) {
        let (section, section_va) = h.containing(&file, va).ok_or(NO_SECTION)?;
        let table = descriptors(&section, va.wrapping_sub(section_va), &IMPORTS)?;
        // Names usually sit in the descriptors' section, but need not: use the section
        // holding the first descriptor's name (as the `object` crate did).
        let first_name = table.slice(0, IMPORTS.size).filter(|d| !is_null(d));
        let names = first_name
            .and_then(|d| d.u32(IMPORTS.name_at))
            .and_then(|name| h.containing(&file, name))
            .unwrap_or((section, section_va));
        dll_names(&table, &IMPORTS, names, "", &mut dlls)?;
    }
    if let Some(va) = h.directory(IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT) {
        let (section, section_va) = h.containing(&file, va).ok_or(NO_SECTION)?;
        let table = descriptors(&section, va.wrapping_sub(section_va), &DELAY_IMPORTS)?;
        let names = (section, section_va);
        dll_names(&table, &DELAY_IMPORTS, names, " (delay-loaded)", &mut dlls)?;
    }
    for (dll, how) in dlls {
        let dll = String::from_utf8_lossy(dll);
        if !windows_ships(&dll) {
            let expected =
                "a DLL every Windows 10 has (system DLL or api-ms-win-*/ext-ms-* API set)";
            let found = format!("{dll}{how}{}", dll_hint(&dll));
            out.push(problem("DLL", expected, found));
        }
    }
    Ok(format!("PE {name}"))
}

const NO_SECTION: Bad = Bad("Invalid import data dir virtual address");

/// An import table's layout: IMAGE_IMPORT_DESCRIPTOR or the delay-load descriptor.
struct Table {
    size: u64,
    /// Where the descriptor keeps the RVA of its DLL's name.
    name_at: u64,
    bad_address: &'static str,
    /// The table must end with an all-zero descriptor.
    unterminated: &'static str,
}

const IMPORTS: Table = Table {
    size: IMPORT_DESCRIPTOR,
    name_at: 12,
    bad_address: "Invalid PE import descriptor address",
    unterminated: "Missing PE null import descriptor",
};

const DELAY_IMPORTS: Table = Table {
    size: DELAYLOAD_DESCRIPTOR,
    name_at: 4,
    bad_address: "Invalid PE delay-load import descriptor address",
    unterminated: "Missing PE null delay-load import descriptor",
};

/// The section's bytes from the table's first descriptor on.
fn descriptors<'a>(section: &Reader<'a>, offset: u32, t: &Table) -> Result<Reader<'a>, Bad> {
    let len = (section.data().len() as u64).checked_sub(u64::from(offset));
    len.and_then(|len| section.slice(u64::from(offset), len))
        .ok_or(Bad(t.bad_address))
}

fn is_null(descriptor: &Reader<'_>) -> bool {
    descriptor.data().iter().all(|&b| b == 0)
}

/// Each descriptor's DLL name, up to the all-zero descriptor that ends the table. `names`
/// is the section the name RVAs point into, and its RVA.
fn dll_names<'a>(
    table: &Reader<'a>,
    t: &Table,
    (names, names_va): (Reader<'a>, u32),
    how: &'static str,
    dlls: &mut Vec<(&'a [u8], &'static str)>,
) -> Result<(), Bad> {
    let mut at = 0;
    loop {
        let d = table.slice(at, t.size).ok_or(Bad(t.unterminated))?;
        if is_null(&d) {
            return Ok(());
        }
        let name = d.u32(t.name_at).ok_or(Bad(t.unterminated))?;
        let name = names
            .c_str(u64::from(name.wrapping_sub(names_va)))
            .ok_or(Bad("Invalid PE import descriptor name"))?;
        dlls.push((name, how));
        at += t.size;
    }
}

/// Docker Desktop runs host binaries as command-line programs and reads their stdout.
const GUI: &str = "GUI (IMAGE_SUBSYSTEM_WINDOWS_GUI; a host binary is a command-line program \
    whose stdout ddClient.extension.host.cli.exec reads)";

/// System32 DLLs of a stock Windows 10 (1507 and later) that programs link against.
/// Deliberately absent: MinGW's runtime (libwinpthread-1, libgcc_s_seh-1, libstdc++-6) and
/// the Visual C++ redistributable (vcruntime140, msvcp140), which a user may not have.
/// WaitOnAddress comes from the api-ms-win-core-synch-l1-2-0 API set (synchronization.lib).
const WINDOWS_DLLS: &str =
    "advapi32 bcrypt bcryptprimitives cfgmgr32 combase comctl32 comdlg32 crypt32 \
    cryptbase cryptnet cryptui d2d1 d3d11 d3d12 d3d9 d3dcompiler_47 dbghelp dhcpcsvc \
    dnsapi dwmapi dwrite dxgi fwpuclnt gdi32 gdiplus hid imagehlp imm32 iphlpapi \
    kernel32 kernelbase mpr msi mswsock msvcrt ncrypt netapi32 normaliz ntdll ole32 \
    oleaut32 opengl32 powrprof profapi psapi rpcrt4 sechost secur32 setupapi shell32 \
    shlwapi srvcli sspicli ucrtbase urlmon user32 userenv uxtheme version virtdisk \
    winhttp wininet winmm winspool.drv wintrust winusb wldap32 ws2_32 wsock32 wtsapi32";

fn windows_ships(dll: &str) -> bool {
    let dll = dll.to_ascii_lowercase();
    if dll.starts_with("api-ms-win-") || dll.starts_with("ext-ms-") {
        return true;
    }
    let stem = dll.strip_suffix(".dll").unwrap_or(&dll);
    WINDOWS_DLLS.split_ascii_whitespace().any(|d| d == stem)
}

fn dll_hint(dll: &str) -> &'static str {
    match dll.to_ascii_lowercase().as_str() {
        "libwinpthread-1.dll" | "libgcc_s_seh-1.dll" | "libstdc++-6.dll" => {
            " (MinGW's runtime: link it statically)"
        }
        "vcruntime140.dll" | "msvcp140.dll" | "vcruntime140_1.dll" => {
            " (the Visual C++ redistributable: link the CRT statically, +crt-static)"
        }
        _ => "",
    }
}

/// Synthetic PE files: DOS header, COFF header and a PE32+ optional header, no sections.
#[cfg(test)]
pub(super) mod tests {
    use super::super::{check, HostOs};
    use super::*;

    pub(in crate::loadable) struct Pe {
        pub machine: u16,
        pub subsystem: u16,
        pub os_version: (u16, u16),
        pub dll: bool,
        /// DLLs named by the import table, and by the delay-load table; either makes one
        /// section holding both tables and the names.
        pub imports: &'static [&'static str],
        pub delay_imports: &'static [&'static str],
    }

    impl Default for Pe {
        fn default() -> Self {
            Pe {
                machine: IMAGE_FILE_MACHINE_AMD64,
                subsystem: IMAGE_SUBSYSTEM_WINDOWS_CUI,
                os_version: (6, 0),
                dll: false,
                imports: &[],
                delay_imports: &[],
            }
        }
    }

    /// Where the import section is loaded and stored.
    const IDATA_RVA: u32 = 0x1000;
    const IDATA_AT: usize = 0x200;

    impl Pe {
        pub(in crate::loadable) fn bytes(&self) -> Vec<u8> {
            let sections = u16::from(!self.imports.is_empty() || !self.delay_imports.is_empty());
            let mut v = vec![0u8; 0x40];
            v[..2].copy_from_slice(b"MZ");
            v[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes()); // e_lfanew
            v.extend(b"PE\0\0");
            let characteristics = 0x22 | if self.dll { IMAGE_FILE_DLL } else { 0 };
            v.extend(self.machine.to_le_bytes());
            v.extend(sections.to_le_bytes());
            v.extend([0; 12]); // timestamp, symbol table
            v.extend(240u16.to_le_bytes()); // SizeOfOptionalHeader
            v.extend(characteristics.to_le_bytes());
            let mut opt = vec![0u8; 240];
            opt[..2].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+
            opt[32..36].copy_from_slice(&0x1000u32.to_le_bytes()); // SectionAlignment
            opt[36..40].copy_from_slice(&0x200u32.to_le_bytes()); // FileAlignment
            opt[40..42].copy_from_slice(&self.os_version.0.to_le_bytes());
            opt[42..44].copy_from_slice(&self.os_version.1.to_le_bytes());
            opt[48..50].copy_from_slice(&self.os_version.0.to_le_bytes()); // subsystem version
            opt[50..52].copy_from_slice(&self.os_version.1.to_le_bytes());
            opt[68..70].copy_from_slice(&self.subsystem.to_le_bytes());
            opt[108..112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
            if sections == 0 {
                v.extend(opt);
                return v;
            }
            let (idata, tables) = self.idata();
            for (index, (rva, size)) in [(1, tables[0]), (13, tables[1])] {
                if size > 0 {
                    let at = 112 + 8 * index;
                    opt[at..at + 4].copy_from_slice(&rva.to_le_bytes());
                    opt[at + 4..at + 8].copy_from_slice(&size.to_le_bytes());
                }
            }
            v.extend(opt);
            let mut header = b".idata\0\0".to_vec();
            // VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData
            for field in [idata.len(), IDATA_RVA as usize, idata.len(), IDATA_AT] {
                header.extend((field as u32).to_le_bytes());
            }
            header.resize(40, 0);
            v.extend(header);
            v.resize(IDATA_AT, 0);
            v.extend(idata);
            v
        }

        /// The import section: descriptors, each table ending with a null one, then the
        /// names. Returns it and each table's (RVA, size).
        fn idata(&self) -> (Vec<u8>, [(u32, u32); 2]) {
            let (imports, delayed) = (self.imports.len(), self.delay_imports.len());
            let delay_at = 20 * (imports + 1);
            let mut v = vec![0u8; delay_at + 32 * (delayed + 1)];
            let rva = |at: usize| IDATA_RVA + at as u32;
            let name = |v: &mut Vec<u8>, dll: &str, at: usize| {
                let name_rva = rva(v.len()).to_le_bytes();
                v[at..at + 4].copy_from_slice(&name_rva);
                v.extend(dll.as_bytes());
                v.push(0);
            };
            for (i, dll) in self.imports.iter().enumerate() {
                name(&mut v, dll, 20 * i + 12);
            }
            for (i, dll) in self.delay_imports.iter().enumerate() {
                v[delay_at + 32 * i] = 1; // Attributes: RVA-based
                name(&mut v, dll, delay_at + 32 * i + 4);
            }
            let size = |n: usize, each: usize| if n == 0 { 0 } else { (each * (n + 1)) as u32 };
            let tables = [
                (rva(0), size(imports, 20)),
                (rva(delay_at), size(delayed, 32)),
            ];
            (v, tables)
        }
    }

    fn problems(p: Pe, cpu: Cpu) -> Vec<String> {
        let r = check(&p.bytes(), HostOs::Windows, cpu, &Floors::default());
        r.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_console_exe_for_the_right_cpu_passes() {
        let r = check(
            &Pe::default().bytes(),
            HostOs::Windows,
            Cpu::X86_64,
            &Floors::default(),
        );
        assert_eq!((r.format.as_str(), r.problems), ("PE AMD64", vec![]));
    }

    #[test]
    fn cpu_subsystem_version_and_dll_each_report_one_line() {
        assert_eq!(
            problems(Pe::default(), Cpu::Aarch64),
            ["cpu: expected ARM64, found AMD64"]
        );
        let gui = Pe {
            subsystem: IMAGE_SUBSYSTEM_WINDOWS_GUI,
            ..Pe::default()
        };
        assert_eq!(
            problems(gui, Cpu::X86_64),
            [format!(
                "subsystem: expected console (IMAGE_SUBSYSTEM_WINDOWS_CUI), found {GUI}"
            )]
        );
        let newer = Pe {
            os_version: (10, 1),
            ..Pe::default()
        };
        assert_eq!(
            problems(newer, Cpu::X86_64),
            [
                "minimum Windows (OS version): expected 10.0 or older, found 10.1",
                "minimum Windows (subsystem version): expected 10.0 or older, found 10.1"
            ]
        );
        let dll = Pe {
            dll: true,
            ..Pe::default()
        };
        assert_eq!(
            problems(dll, Cpu::X86_64),
            ["kind: expected an executable, found a DLL"]
        );
    }

    /// Imported and delay-loaded DLLs are read from the import section, in table order.
    #[test]
    fn each_dll_windows_lacks_is_one_line() {
        let exe = Pe {
            imports: &[
                "KERNEL32.dll",
                "libwinpthread-1.dll",
                "api-ms-win-crt-heap-l1-1-0.dll",
            ],
            delay_imports: &["VCRUNTIME140.dll", "USER32.dll"],
            ..Pe::default()
        };
        let expected =
            "DLL: expected a DLL every Windows 10 has (system DLL or api-ms-win-*/ext-ms-* \
                        API set), found";
        assert_eq!(
            problems(exe, Cpu::X86_64),
            [
                format!("{expected} libwinpthread-1.dll (MinGW's runtime: link it statically)"),
                format!(
                    "{expected} VCRUNTIME140.dll (delay-loaded) (the Visual C++ redistributable: \
                     link the CRT statically, +crt-static)"
                ),
            ]
        );
        let system_only = Pe {
            imports: &["KERNEL32.dll", "ntdll.dll"],
            ..Pe::default()
        };
        assert_eq!(problems(system_only, Cpu::X86_64), Vec::<String>::new());
    }

    #[test]
    fn system_dlls_and_api_sets_ship_with_windows_runtimes_do_not() {
        for dll in [
            "KERNEL32.dll",
            "ntdll.dll",
            "bcryptprimitives.dll",
            "ucrtbase.dll",
            "msvcrt.dll",
            "WS2_32.dll",
            "api-ms-win-crt-runtime-l1-1-0.dll",
            "API-MS-WIN-CORE-SYNCH-L1-2-0.DLL",
            "ext-ms-win-ntuser-window-l1-1-0.dll",
            "winspool.drv",
        ] {
            assert!(windows_ships(dll), "{dll}");
        }
        for dll in [
            "libwinpthread-1.dll",
            "libgcc_s_seh-1.dll",
            "libstdc++-6.dll",
            "vcruntime140.dll",
            "msvcp140.dll",
            "foo.dll",
        ] {
            assert!(!windows_ships(dll), "{dll}");
        }
        assert_eq!(
            dll_hint("LIBWINPTHREAD-1.DLL"),
            " (MinGW's runtime: link it statically)"
        );
    }
}
