import { afterEach, describe, expect, it, vi } from "vitest";

import { binaryName, HostCallError, runHostBin, type ExecOutput, type HostBinClient } from "./hostBin";

function client(exec: (cmd: string, args: string[]) => Promise<ExecOutput>, platform = "linux"): HostBinClient {
  return { host: { platform }, extension: { host: { cli: { exec: vi.fn(exec) } } } };
}

const ok = (stdout: string): Promise<ExecOutput> => Promise.resolve({ stdout, stderr: "", code: 0 });

async function failure(p: Promise<unknown>): Promise<HostCallError> {
  const e = await p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(HostCallError);
  return e as HostCallError;
}

afterEach(() => {
  delete window.ddClient;
  vi.useRealTimers();
});

describe("binaryName", () => {
  it("takes each OS's file name from extension/metadata.json", () => {
    expect(binaryName("win32")).toBe("host-bin.exe");
    expect(binaryName("darwin")).toBe("host-bin");
    expect(binaryName("linux")).toBe("host-bin");
  });

  it("follows the metadata, not a hard-coded name", () => {
    const host = { binaries: [{ windows: [{ path: "/windows/other.cmd" }], linux: [{ path: "/linux/other" }] }] };
    expect(binaryName("win32", host)).toBe("other.cmd");
    expect(binaryName("linux", host)).toBe("other");
  });

  it("names the platform when there is no binary for it", () => {
    expect(() => binaryName("freebsd")).toThrow(/host platform 'freebsd'.*no host binary/);
    const host = { binaries: [{ linux: [{ path: "/linux/host-bin" }] }] };
    expect(() => binaryName("darwin", host)).toThrow(HostCallError);
  });
});

describe("runHostBin", () => {
  it("runs the platform's binary with the arguments and parses its JSON", async () => {
    const c = client(() => ok('{"ports":[]}\n'), "win32");
    await expect(runHostBin(["port-check", "80"], { client: c })).resolves.toEqual({ ports: [] });
    expect(c.extension.host!.cli.exec).toHaveBeenCalledWith("host-bin.exe", ["port-check", "80"]);
  });

  it("reports a non-zero exit with the error host-bin printed on stderr", async () => {
    // Docker Desktop rejects with the exec result when the command fails.
    const c = client(() =>
      Promise.reject({
        stdout: "",
        stderr: '{"error":"invalid port \'abc\': expected an integer from 1 to 65535"}\n',
        code: 2,
      }),
    );
    const e = await failure(runHostBin(["port-check", "abc"], { client: c }));
    expect(e.kind).toBe("exit");
    expect(e.title).toBe("host-bin port-check abc failed");
    expect(e.message).toBe(
      "`host-bin port-check abc` exited with code 2: invalid port 'abc': expected an integer from 1 to 65535",
    );
  });

  it("treats a resolved result with a non-zero code as a failure too", async () => {
    const c = client(() => Promise.resolve({ stdout: "{}", stderr: "segfault\n", code: 139 }));
    const e = await failure(runHostBin(["info"], { client: c }));
    expect(e.kind).toBe("exit");
    expect(e.message).toBe("`host-bin info` exited with code 139: segfault");
  });

  it("says so when a failing binary printed nothing", async () => {
    const c = client(() => Promise.reject({ stdout: "", stderr: "", killed: true, signal: "SIGKILL" }));
    const e = await failure(runHostBin(["info"], { client: c }));
    expect(e.message).toBe("`host-bin info` was stopped by SIGKILL: it printed no error message.");
  });

  it("reports a binary that could not start", async () => {
    const c = client(() => Promise.reject(new Error("spawn host-bin ENOENT")));
    const e = await failure(runHostBin(["info"], { client: c }));
    expect(e.kind).toBe("exec");
    expect(e.message).toBe("Could not run `host-bin info`: spawn host-bin ENOENT");
  });

  it("rejects output that is not JSON, quoting it", async () => {
    const c = client(() => ok("Segmentation fault? no: plain text\n"));
    const e = await failure(runHostBin(["info"], { client: c }));
    expect(e.kind).toBe("bad-output");
    expect(e.message).toMatch(/not JSON/);
    expect(e.message).toMatch(/Output: Segmentation fault\? no: plain text$/);
  });

  it("rejects empty output", async () => {
    const e = await failure(runHostBin(["info"], { client: client(() => ok("")) }));
    expect(e.kind).toBe("bad-output");
    expect(e.message).toMatch(/it printed nothing/);
  });

  it("gives up after the timeout", async () => {
    vi.useFakeTimers();
    const c = client(() => new Promise<ExecOutput>(() => {}));
    const pending = failure(runHostBin(["info"], { client: c, timeoutMs: 10_000 }));
    await vi.advanceTimersByTimeAsync(9_999);
    let settled = false;
    void pending.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const e = await pending;
    expect(e.kind).toBe("timeout");
    expect(e.message).toBe("`host-bin info` did not finish within 10 s. The host may be busy; try again.");
  });

  it("uses window.ddClient when no client is given, looked up at call time", async () => {
    const e = await failure(runHostBin(["info"]));
    expect(e.kind).toBe("unavailable");
    expect(e.message).toMatch(/open it from the Extensions section of Docker Desktop/);

    const c = client(() => ok('{"a":1}'));
    window.ddClient = c;
    await expect(runHostBin(["info"])).resolves.toEqual({ a: 1 });
    expect(c.extension.host!.cli.exec).toHaveBeenCalledWith("host-bin", ["info"]);
  });

  it("accepts a client factory, called only when a command runs", async () => {
    const factory = vi.fn(() => client(() => ok("[]")));
    const opts = { client: factory };
    expect(factory).not.toHaveBeenCalled();
    await runHostBin(["info"], opts);
    expect(factory).toHaveBeenCalledTimes(1);
  });

  it("explains a Docker Desktop that cannot run host binaries", async () => {
    const c = { host: { platform: "linux" }, extension: {} } as HostBinClient;
    const e = await failure(runHostBin(["info"], { client: c }));
    expect(e.kind).toBe("unavailable");
    expect(e.message).toMatch(/update Docker Desktop/);
  });
});
