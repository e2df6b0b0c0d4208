//! PE rules: CPU, console subsystem, minimum Windows, DLLs a stock Windows 10 has.

use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile, PeFile32, PeFile64};
use object::LittleEndian as LE;

use super::{problem, truncated, Bad, Cpu, Floors, Parsed, Problem};

pub(super) fn check(
    bytes: &[u8],
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Parsed<String> {
    let result = match PeFile64::parse(bytes) {
        Ok(f) => pe_rules(&f, want, floors, out),
        Err(e64) => match PeFile32::parse(bytes) {
            Ok(f) => pe_rules(&f, want, floors, out),
            Err(_) => Err(e64.into()),
        },
    };
    result.map_err(|e| ("PE", e))
}

fn pe_rules<'a, Pe: ImageNtHeaders>(
    file: &PeFile<'a, Pe, &'a [u8]>,
    want: Cpu,
    floors: &Floors,
    out: &mut Vec<Problem>,
) -> Result<String, Bad> {
    let (fh, oh) = (
        file.nt_headers().file_header(),
        file.nt_headers().optional_header(),
    );
    let machine = fh.machine.get(LE);
    let (name, ok) = match machine {
        pe::IMAGE_FILE_MACHINE_AMD64 => ("AMD64".to_owned(), want == Cpu::X86_64),
        pe::IMAGE_FILE_MACHINE_ARM64 => ("ARM64".to_owned(), want == Cpu::Aarch64),
        pe::IMAGE_FILE_MACHINE_ARM64EC => ("ARM64EC".to_owned(), false),
        pe::IMAGE_FILE_MACHINE_I386 => ("i386".to_owned(), false),
        pe::IMAGE_FILE_MACHINE_ARMNT => ("ARMNT".to_owned(), false),
        m => (format!("machine {:#06x}", m.0), false),
    };
    if !ok {
        let expected = match want {
            Cpu::X86_64 => "AMD64",
            Cpu::Aarch64 => "ARM64",
        };
        out.push(problem("cpu", expected, name.clone()));
    }
    if fh.characteristics.get(LE).0 & pe::IMAGE_FILE_DLL.0 != 0 {
        out.push(problem("kind", "an executable", "a DLL"));
    }
    match oh.subsystem() {
        pe::IMAGE_SUBSYSTEM_WINDOWS_CUI => {}
        s => {
            let found = match s {
                pe::IMAGE_SUBSYSTEM_WINDOWS_GUI => GUI.to_owned(),
                s => format!("subsystem {}", s.0),
            };
            out.push(problem(
                "subsystem",
                "console (IMAGE_SUBSYSTEM_WINDOWS_CUI)",
                found,
            ));
        }
    }
    let floor = floors.windows;
    for (rule, v) in [
        (
            "minimum Windows (OS version)",
            (
                oh.major_operating_system_version(),
                oh.minor_operating_system_version(),
            ),
        ),
        (
            "minimum Windows (subsystem version)",
            (oh.major_subsystem_version(), oh.minor_subsystem_version()),
        ),
    ] {
        if v > floor {
            let expected = format!("{}.{} or older", floor.0, floor.1);
            out.push(problem(rule, expected, format!("{}.{}", v.0, v.1)));
        }
    }
    let end = file
        .section_table()
        .iter()
        .map(|s| u64::from(s.pointer_to_raw_data.get(LE)) + u64::from(s.size_of_raw_data.get(LE)))
        .max()
        .unwrap_or(0);
    if end > file.data().len() as u64 {
        out.push(truncated(end, file.data().len(), "section", None));
        return Ok(format!("PE {name}"));
    }
    let mut dlls = Vec::new();
    if let Some(t) = file.import_table()? {
        let mut d = t.descriptors()?;
        while let Some(desc) = d.next()? {
            dlls.push((t.name(desc.name.get(LE))?, ""));
        }
    }
    if let Some(t) = file.delay_load_import_table()? {
        let mut d = t.descriptors()?;
        while let Some(desc) = d.next()? {
            dlls.push((t.name(desc.dll_name_rva.get(LE))?, " (delay-loaded)"));
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
    Ok(format!("PE {name}"))
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
        pub machine: pe::Machine,
        pub subsystem: pe::Subsystem,
        pub os_version: (u16, u16),
        pub dll: bool,
    }

    impl Default for Pe {
        fn default() -> Self {
            Pe {
                machine: pe::IMAGE_FILE_MACHINE_AMD64,
                subsystem: pe::IMAGE_SUBSYSTEM_WINDOWS_CUI,
                os_version: (6, 0),
                dll: false,
            }
        }
    }

    impl Pe {
        pub(in crate::loadable) fn bytes(&self) -> Vec<u8> {
            let mut v = vec![0u8; 0x40];
            v[..2].copy_from_slice(b"MZ");
            v[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes()); // e_lfanew
            v.extend(b"PE\0\0");
            let characteristics = 0x22 | if self.dll { pe::IMAGE_FILE_DLL.0 } else { 0 };
            v.extend(self.machine.0.to_le_bytes());
            v.extend([0; 14]); // sections, timestamp, symbol table
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
            opt[68..70].copy_from_slice(&self.subsystem.0.to_le_bytes());
            opt[108..112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
            v.extend(opt);
            v
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
            subsystem: pe::IMAGE_SUBSYSTEM_WINDOWS_GUI,
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
