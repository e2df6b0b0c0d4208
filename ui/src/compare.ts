// What differs between the user's machine (host-bin info) and Docker Desktop's VM (the VM
// service's facts): the point of showing them side by side.

import type { HostInfo } from "./api";
import type { VmFacts } from "./vmService";

export const OS_NAMES: Record<string, string> = { linux: "Linux", macos: "macOS", windows: "Windows" };

export interface Difference {
  fact: string;
  host: string;
  vm: string;
  /** What the difference means for the user's containers. */
  meaning: string;
}

/** Rust's CPU names (host-bin's `arch`) -> Docker's platform words (the service's `arch`). */
export function dockerArch(rustArch: string): string {
  const words: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", x86: "386", arm: "arm" };
  return words[rustArch] ?? rustArch;
}

/** Every fact both sides report that is not the same, in the order the page shows them. */
export function differences(host: HostInfo, vm: VmFacts): Difference[] {
  const found: Difference[] = [];
  const hostOs = OS_NAMES[host.os] ?? host.os;
  if (host.os !== "linux") {
    found.push({
      fact: "Operating system",
      host: hostOs,
      vm: vm.os,
      meaning: `Containers run on the VM's Linux kernel (${vm.kernel}), not on ${hostOs}.`,
    });
  }
  const hostArch = dockerArch(host.arch);
  if (hostArch !== vm.arch) {
    found.push({
      fact: "CPU architecture",
      host: hostArch,
      vm: vm.arch,
      meaning: `Docker Desktop pulls the linux/${vm.arch} variant of images; linux/${hostArch} ones run emulated.`,
    });
  }
  if (host.cpus !== vm.cpus) {
    found.push({
      fact: "CPUs",
      host: String(host.cpus),
      vm: String(vm.cpus),
      meaning:
        vm.cpus < host.cpus
          ? `Containers share the ${vm.cpus} CPUs Docker Desktop's resource settings give the VM.`
          : `The VM reports more CPUs than the host binary sees.`,
    });
  }
  if (host.version !== vm.version) {
    found.push({
      fact: "Extension version",
      host: host.version,
      vm: vm.version,
      meaning: "The host binary and the VM service come from different builds of the extension.",
    });
  }
  return found;
}

/** 2147483648 -> "2.0 GiB": binary units, as Docker Desktop's resource settings use. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** 93784 -> "1 d 2 h 3 min": the two or three largest units, enough to see a restart. */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d} d ${h} h ${m} min`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min`;
  return `${seconds} s`;
}
