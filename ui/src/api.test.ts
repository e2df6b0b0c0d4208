import { describe, expect, it, vi } from "vitest";

import { checkInfo, checkPortReport, hostApi } from "./api";
import { HostCallError, type ExecOutput } from "./hostBin";

const INFO = { arch: "x86_64", cpus: 2, family: "unix", hostname: "vm", os: "linux", version: "0.1.0" };

describe("checkInfo", () => {
  it("accepts what host-bin info prints, ignoring extra fields", () => {
    expect(checkInfo({ ...INFO, extra: true }, "host-bin info")).toEqual(INFO);
  });

  it.each([
    [null, "expected a JSON object"],
    [[INFO], "expected a JSON object"],
    [{ ...INFO, hostname: 7 }, '"hostname" should be a non-empty string'],
    [{ ...INFO, os: "" }, '"os" should be a non-empty string'],
    [{ ...INFO, cpus: "2" }, '"cpus" should be a positive integer'],
    [{ ...INFO, cpus: 0 }, '"cpus" should be a positive integer'],
    [{ ...INFO, version: undefined }, '"version" should be a non-empty string'],
  ])("rejects %j", (value, why) => {
    expect(() => checkInfo(value, "host-bin info")).toThrow(why);
  });
});

describe("checkPortReport", () => {
  it("accepts host-bin's report", () => {
    const report = {
      ports: [
        { free: false, port: 18080, reason: "Address already in use (os error 98)" },
        { free: true, port: 18081 },
      ],
    };
    expect(checkPortReport(report, [18080, 18081], "x")).toEqual([
      { port: 18080, free: false, reason: "Address already in use (os error 98)" },
      { port: 18081, free: true },
    ]);
  });

  it.each([
    [{}, 'expected {"ports": [...]}'],
    [{ ports: [{ port: 80 }] }, 'ports[0] should be {"port": 1-65535, "free": true|false}'],
    [{ ports: [{ port: 70000, free: true }] }, "ports[0] should be"],
    [{ ports: [{ port: 80, free: false, reason: 1 }] }, "ports[0].reason should be a string"],
    [{ ports: [{ port: 81, free: true }] }, "no answer for port 80"],
  ])("rejects %j", (value, why) => {
    let e: unknown;
    try {
      checkPortReport(value, [80], "host-bin port-check 80");
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(HostCallError);
    expect((e as HostCallError).kind).toBe("bad-output");
    expect((e as HostCallError).message).toContain(why);
  });
});

describe("hostApi", () => {
  it("runs `port-check` with every port and checks the answer", async () => {
    const exec = vi.fn(
      (): Promise<ExecOutput> =>
        Promise.resolve({ stdout: '{"ports":[{"port":80,"free":true},{"port":443,"free":true}]}', stderr: "" }),
    );
    const api = hostApi({ client: { host: { platform: "darwin" }, extension: { host: { cli: { exec } } } } });
    await expect(api.portCheck([80, 443])).resolves.toHaveLength(2);
    expect(exec).toHaveBeenCalledWith("host-bin", ["port-check", "80", "443"]);
  });

  it("names the command in a shape error", async () => {
    const exec = () => Promise.resolve({ stdout: '{"os":"linux"}', stderr: "" });
    const api = hostApi({ client: { host: { platform: "linux" }, extension: { host: { cli: { exec } } } } });
    await expect(api.info()).rejects.toThrow(/`host-bin info` printed something other than the expected JSON/);
  });
});
