//! PE, PE32 or PE32+: CPU, console subsystem, minimum Windows, DLLs a stock Windows 10
//! has, every section in the file; and the link time `build` compares.

use object::pe::{self, ImageDosHeader, ImageNtHeaders32, ImageNtHeaders64};
use object::read::pe::{optional_header_magic, ImageNtHeaders, ImageOptionalHeader};
use object::{LittleEndian as LE, ReadRef, U32};

use super::{problem, truncated, BinInfo, Cpu, Floors, Format, Linkage, Parsed};
use super::{Problem, SniffError};

pub(super) fn sniff(bytes: &[u8]) -> Result<BinInfo, SniffError> {
    let f = Format::Pe;
    let len = bytes.len();
    let dos = ImageDosHeader::parse(bytes).map_err(|_| SniffError::Truncated {
        format: f,
        detail: format!("DOS header (64 bytes) beyond {len} bytes read"),
    })?;
    let lfanew = u64::from(dos.nt_headers_offset());
    let Some((signature, file)) = nt_start(bytes, lfanew) else {
        let detail = format!("e_lfanew {lfanew:#x} beyond {len} bytes read");
        return Err(SniffError::Truncated { format: f, detail });
    };
    if signature != pe::IMAGE_NT_SIGNATURE {
        // A plain DOS program, or some other MZ-based format (NE/LE).
        let found = signature.to_le_bytes();
        let detail = format!("no PE\\0\\0 signature at e_lfanew {lfanew:#x} (found {found:02x?})");
        return Err(SniffError::Malformed { format: f, detail });
    }
    Ok(BinInfo {
        format: f,
        cpus: vec![cpu(file.machine.get(LE))],
        universal: false,
        linkage: Linkage::NotApplicable,
        interpreter: None,
        needed: None,
        runpath: Vec::new(),
    })
}

/// The NT headers' signature and COFF file header at `e_lfanew`: all `sniff` and
/// `link_time` read, the same in PE32 and PE32+. `None` when they lie past `bytes`.
fn nt_start(bytes: &[u8], lfanew: u64) -> Option<(u32, &pe::ImageFileHeader)> {
    let signature = bytes.read_at::<U32<LE>>(lfanew).ok()?.get(LE);
    Some((signature, bytes.read_at(lfanew + 4).ok()?))
}

pub(super) fn link_time(bytes: &[u8]) -> Option<u32> {
    let dos = ImageDosHeader::parse(bytes).ok()?;
    let (signature, file) = nt_start(bytes, dos.nt_headers_offset().into())?;
    (signature == pe::IMAGE_NT_SIGNATURE).then(|| file.time_date_stamp.get(LE))
}

fn cpu(machine: pe::Machine) -> Cpu {
    match machine {
        pe::IMAGE_FILE_MACHINE_AMD64 => Cpu::X86_64,
        pe::IMAGE_FILE_MACHINE_ARM64 => Cpu::Aarch64,
        pe::IMAGE_FILE_MACHINE_ARM64EC => Cpu::Named("arm64ec"),
        pe::IMAGE_FILE_MACHINE_I386 => Cpu::Named("i386"),
        pe::IMAGE_FILE_MACHINE_ARMNT => Cpu::Named("arm"),
        other => Cpu::Other(other.0.into()),
    }
}

pub(super) fn check(
    bytes: &[u8],
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Parsed<String> {
    let text = |e: object::read::Error| ("PE", e.to_string());
    match optional_header_magic(bytes).map_err(text)? {
        pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC => rules::<ImageNtHeaders32>(bytes, want, floors, out),
        _ => rules::<ImageNtHeaders64>(bytes, want, floors, out),
    }
    .map_err(text)
}

fn rules<H: ImageNtHeaders>(
    bytes: &[u8],
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> object::read::Result<String> {
    let dos = ImageDosHeader::parse(bytes)?;
    let mut offset = dos.nt_headers_offset().into();
    let (nt, directories) = H::parse(bytes, &mut offset)?;
    let sections = nt.sections(bytes, offset)?;
    let (file, optional) = (nt.file_header(), nt.optional_header());
    let found = cpu(file.machine.get(LE));
    if found != want {
        out.push(problem("cpu", want.to_string(), found.to_string()));
    }
    if file.characteristics.get(LE).0 & pe::IMAGE_FILE_DLL.0 != 0 {
        out.push(problem("kind", "an executable", "a DLL"));
    }
    match optional.subsystem() {
        pe::IMAGE_SUBSYSTEM_WINDOWS_CUI => {}
        pe::IMAGE_SUBSYSTEM_WINDOWS_GUI => out.push(subsystem(GUI.to_owned())),
        s => out.push(subsystem(format!("subsystem {}", s.0))),
    }
    let floor = floors.windows;
    for (rule, v) in [
        (
            "minimum Windows (OS version)",
            (
                optional.major_operating_system_version(),
                optional.minor_operating_system_version(),
            ),
        ),
        (
            "minimum Windows (subsystem version)",
            (
                optional.major_subsystem_version(),
                optional.minor_subsystem_version(),
            ),
        ),
    ] {
        if v > floor {
            let expected = format!("{}.{} or older", floor.0, floor.1);
            out.push(problem(rule, expected, format!("{}.{}", v.0, v.1)));
        }
    }
    let end = sections
        .iter()
        .map(|s| u64::from(s.pointer_to_raw_data.get(LE)) + u64::from(s.size_of_raw_data.get(LE)))
        .max()
        .unwrap_or(0);
    let name = format!("PE {found}");
    if end > bytes.len() as u64 {
        out.push(truncated(end, bytes.len(), "section", None));
        return Ok(name);
    }
    let mut dlls = Vec::new();
    if let Some(table) = directories.import_table(bytes, &sections)? {
        let mut descriptors = table.descriptors()?;
        while let Some(d) = descriptors.next()? {
            dlls.push((table.name(d.name.get(LE))?, ""));
        }
    }
    if let Some(table) = directories.delay_load_import_table(bytes, &sections)? {
        let mut descriptors = table.descriptors()?;
        while let Some(d) = descriptors.next()? {
            dlls.push((table.name(d.dll_name_rva.get(LE))?, " (delay-loaded)"));
        }
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
    Ok(name)
}

fn subsystem(found: String) -> Problem {
    problem("subsystem", "console (IMAGE_SUBSYSTEM_WINDOWS_CUI)", found)
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
    use super::super::{check, Os};
    use super::*;

    pub(in crate::binfmt) struct Pe {
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
                machine: pe::IMAGE_FILE_MACHINE_AMD64.0,
                subsystem: pe::IMAGE_SUBSYSTEM_WINDOWS_CUI.0,
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
        pub(in crate::binfmt) fn bytes(&self) -> Vec<u8> {
            let sections = u16::from(!self.imports.is_empty() || !self.delay_imports.is_empty());
            let mut v = vec![0u8; 0x40];
            v[..2].copy_from_slice(b"MZ");
            v[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes()); // e_lfanew
            v.extend(b"PE\0\0");
            let characteristics = 0x22 | if self.dll { pe::IMAGE_FILE_DLL.0 } else { 0 };
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
        let r = check(&p.bytes(), Os::Windows, cpu, &Floors::default());
        r.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_console_exe_for_the_right_cpu_passes() {
        let r = check(
            &Pe::default().bytes(),
            Os::Windows,
            Cpu::X86_64,
            &Floors::default(),
        );
        assert_eq!((r.format.as_str(), r.problems), ("PE x86_64", vec![]));
    }

    #[test]
    fn cpu_subsystem_version_and_dll_each_report_one_line() {
        assert_eq!(
            problems(Pe::default(), Cpu::Aarch64),
            ["cpu: expected arm64, found x86_64"]
        );
        let gui = Pe {
            subsystem: pe::IMAGE_SUBSYSTEM_WINDOWS_GUI.0,
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
