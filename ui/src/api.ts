// The two host-bin commands the dashboard uses, with their output checked against the shape
// host-bin documents (`host-bin --help`) before any of it reaches the page.

import { badOutput, HostBinOptions, isRecord, runHostBin } from "./hostBin";

export interface HostInfo {
  os: string;
  family: string;
  arch: string;
  hostname: string;
  cpus: number;
  version: string;
}

export interface PortStatus {
  port: number;
  free: boolean;
  /** Why the port cannot be bound, as the OS said it. */
  reason?: string;
}

export interface HostApi {
  info(): Promise<HostInfo>;
  portCheck(ports: number[]): Promise<PortStatus[]>;
}

export function hostApi(opts: HostBinOptions = {}): HostApi {
  return {
    async info() {
      const value = await runHostBin(["info"], opts);
      return checkInfo(value, "host-bin info");
    },
    async portCheck(ports) {
      const args = ["port-check", ...ports.map(String)];
      const value = await runHostBin(args, opts);
      return checkPortReport(value, ports, `host-bin ${args.join(" ")}`);
    },
  };
}

/** Returns `value` as HostInfo, or throws a bad-output error naming the first wrong field. */
export function checkInfo(value: unknown, shown: string): HostInfo {
  const fail = (why: string) => badOutput(shown, why, JSON.stringify(value) ?? "");
  if (!isRecord(value)) throw fail("expected a JSON object");
  for (const key of ["os", "family", "arch", "hostname", "version"] as const) {
    if (typeof value[key] !== "string" || value[key] === "") {
      throw fail(`"${key}" should be a non-empty string`);
    }
  }
  if (!Number.isInteger(value.cpus) || (value.cpus as number) < 1) {
    throw fail(`"cpus" should be a positive integer`);
  }
  const { os, family, arch, hostname, cpus, version } = value as unknown as HostInfo;
  return { os, family, arch, hostname, cpus, version };
}

/** Returns the report's ports, checking that every port asked about is answered. */
export function checkPortReport(value: unknown, asked: number[], shown: string): PortStatus[] {
  const fail = (why: string) => badOutput(shown, why, JSON.stringify(value) ?? "");
  if (!isRecord(value) || !Array.isArray(value.ports)) throw fail(`expected {"ports": [...]}`);
  const ports = value.ports.map((p: unknown, i: number): PortStatus => {
    if (!isRecord(p) || !isPort(p.port) || typeof p.free !== "boolean") {
      throw fail(`ports[${i}] should be {"port": 1-65535, "free": true|false}`);
    }
    if (p.reason !== undefined && typeof p.reason !== "string") {
      throw fail(`ports[${i}].reason should be a string`);
    }
    return p.reason === undefined
      ? { port: p.port, free: p.free }
      : { port: p.port, free: p.free, reason: p.reason };
  });
  const missing = asked.filter((a) => !ports.some((p) => p.port === a));
  if (missing.length) throw fail(`no answer for port ${missing.join(", ")}`);
  return ports;
}

function isPort(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
}
