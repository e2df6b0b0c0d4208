//! The three facts only the kernel knows, each one system call through libc (which tokio
//! links on Linux anyway): uname(2), sysinfo(2) and sysconf(3). The kernel's own view, not
//! the container's: in Docker Desktop's VM that is the VM itself.
#![allow(unsafe_code)] // the FFI calls below; each carries its SAFETY note

use std::ffi::c_char;
use std::io;

/// What uname(2) reports, as text.
pub struct Uname {
    pub sysname: String,
    pub release: String,
    pub machine: String,
}

pub fn uname() -> io::Result<Uname> {
    // SAFETY: utsname is plain arrays of c_char, for which all-zero bytes are valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a utsname we own, which is what uname(2) fills.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Uname {
        sysname: text(&u.sysname),
        release: text(&u.release),
        machine: text(&u.machine),
    })
}

/// Total memory and seconds since boot, from one sysinfo(2).
pub struct Sysinfo {
    pub memory_bytes: u64,
    pub uptime_seconds: u64,
}

pub fn sysinfo() -> io::Result<Sysinfo> {
    // SAFETY: sysinfo is plain integers, for which all-zero bytes are valid.
    let mut s: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a sysinfo we own, which is what sysinfo(2) fills.
    if unsafe { libc::sysinfo(&mut s) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // totalram counts units of mem_unit bytes (1 on most kernels, larger on 32-bit ones
    // with much memory); a kernel older than 2.3.23 reports 0, meaning bytes.
    let unit = u64::from(s.mem_unit.max(1));
    // c_ulong: u64 here, u32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let total = u64::from(s.totalram);
    Ok(Sysinfo {
        memory_bytes: total.saturating_mul(unit),
        uptime_seconds: u64::try_from(s.uptime).unwrap_or(0),
    })
}

/// CPUs online in the kernel. Not `std::thread::available_parallelism`, which is this
/// process's share (affinity, cgroup quota): the panel shows the VM, not the container.
pub fn online_cpus() -> io::Result<u64> {
    // SAFETY: sysconf takes a constant and touches no memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A NUL-terminated field of utsname as text (lossy: the kernel's strings are ASCII).
fn text(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uname_matches_procfs() {
        let u = uname().unwrap();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(u.release, release.trim());
        assert_eq!(u.sysname, "Linux");
        assert!(!u.machine.is_empty());
    }

    #[test]
    fn sysinfo_and_cpus_are_plausible() {
        let s = sysinfo().unwrap();
        assert!(s.memory_bytes > 16 << 20, "{}", s.memory_bytes);
        assert!(s.uptime_seconds > 0);
        assert!(online_cpus().unwrap() >= 1);
    }
}
