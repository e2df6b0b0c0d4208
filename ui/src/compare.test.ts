import { describe, expect, it } from "vitest";

import type { HostInfo } from "./api";
import { differences, dockerArch, formatBytes, formatUptime } from "./compare";
import type { VmFacts } from "./vmService";

const HOST: HostInfo = { os: "linux", family: "unix", arch: "x86_64", hostname: "h", cpus: 2, version: "0.1.0" };
const VM: VmFacts = {
  kernel: "6.1.0",
  os: "Linux",
  arch: "amd64",
  machine: "x86_64",
  cpus: 2,
  memory_bytes: 1,
  uptime_seconds: 1,
  version: "0.1.0",
};

describe("differences", () => {
  it("finds none between a Linux host and its own kernel", () => {
    expect(differences(HOST, VM)).toEqual([]);
  });

  it("compares CPUs in Docker's words, so x86_64 and amd64 are the same", () => {
    expect(dockerArch("x86_64")).toBe("amd64");
    expect(dockerArch("aarch64")).toBe("arm64");
    const found = differences({ ...HOST, arch: "aarch64" }, VM);
    expect(found).toEqual([
      {
        fact: "CPU architecture",
        host: "arm64",
        vm: "amd64",
        meaning: "Docker Desktop pulls the linux/amd64 variant of images; linux/arm64 ones run emulated.",
      },
    ]);
  });

  it("lists OS, CPU count and version differences in page order", () => {
    const found = differences({ ...HOST, os: "windows", cpus: 16, version: "0.2.0" }, VM);
    expect(found.map((d) => [d.fact, d.host, d.vm])).toEqual([
      ["Operating system", "Windows", "Linux"],
      ["CPUs", "16", "2"],
      ["Extension version", "0.2.0", "0.1.0"],
    ]);
    expect(found[0].meaning).toContain("(6.1.0)");
  });
});

describe("formatting", () => {
  it("gives bytes in binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(8 * 1024 ** 3)).toBe("8.0 GiB");
    expect(formatBytes(1536 * 1024)).toBe("1.5 MiB");
  });

  it("gives uptime in its largest units", () => {
    expect(formatUptime(42)).toBe("42 s");
    expect(formatUptime(125)).toBe("2 min");
    expect(formatUptime(3720)).toBe("1 h 2 min");
    expect(formatUptime(93784)).toBe("1 d 2 h 3 min");
  });
});
