import { describe, expect, it, vi } from "vitest";

import { HostCallError } from "./hostBin";
import { checkVmFacts, serviceError, vmApi, type VmServiceClient } from "./vmService";

const FACTS = {
  kernel: "6.10.14-linuxkit",
  os: "Linux",
  arch: "amd64",
  machine: "x86_64",
  cpus: 2,
  memory_bytes: 4_000_000_000,
  uptime_seconds: 0,
  version: "0.1.0",
};

function client(get: (url: string) => Promise<unknown>): VmServiceClient {
  return { extension: { vm: { service: { get } } } };
}

async function failure(p: Promise<unknown>): Promise<HostCallError> {
  const e = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(HostCallError);
  return e as HostCallError;
}

describe("vmApi().facts()", () => {
  it("asks GET /facts and returns the checked facts", async () => {
    const get = vi.fn(() => Promise.resolve({ ...FACTS, extra: "ignored" }));
    expect(await vmApi({ client: client(get) }).facts()).toEqual(FACTS);
    expect(get).toHaveBeenCalledWith("/facts");
  });

  it("is unavailable when Docker Desktop gives no vm.service", async () => {
    const e = await failure(vmApi({ client: { extension: {} } }).facts());
    expect(e.kind).toBe("unavailable");
    expect(e.message).toContain("`vm` section");
  });

  it("is unreachable when nothing answers on the socket", async () => {
    const get = () => Promise.reject(new Error("connect ENOENT /run/guest-services/host-facts.sock"));
    const e = await failure(vmApi({ client: client(get) }).facts());
    expect(e.kind).toBe("unreachable");
    expect(e.title).toBe("The VM service is not reachable");
    expect(e.message).toContain("connect ENOENT /run/guest-services/host-facts.sock");
  });

  it("shows the service's own error for an HTTP error status", async () => {
    const get = () => Promise.reject({ name: "ServiceError", statusCode: 404, message: '{"error":"no such path /x"}' });
    const e = await failure(vmApi({ client: client(get) }).facts());
    expect(e.kind).toBe("service");
    expect(e.message).toBe("The extension's service in Docker Desktop's VM answered HTTP 404: no such path /x");
  });

  it("times out", async () => {
    const e = await failure(vmApi({ client: client(() => new Promise(() => {})), timeoutMs: 20 }).facts());
    expect(e.kind).toBe("timeout");
    expect(e.message).toContain("GET /facts");
  });
});

describe("serviceError", () => {
  it("treats a 5xx like no answer: the proxy's way of saying the socket is gone", () => {
    expect(serviceError("/facts", { statusCode: 502, message: "bad gateway" }).kind).toBe("unreachable");
  });
});

describe("checkVmFacts", () => {
  it("names the first wrong field", () => {
    expect(() => checkVmFacts({ ...FACTS, cpus: 0 }, "GET /facts")).toThrow(/"cpus" should be a positive integer/);
    expect(() => checkVmFacts({ ...FACTS, arch: "" }, "GET /facts")).toThrow(/"arch" should be a non-empty string/);
    expect(() => checkVmFacts({ ...FACTS, uptime_seconds: -1 }, "GET /facts")).toThrow(/non-negative/);
    expect(() => checkVmFacts("ok", "GET /facts")).toThrow(/expected a JSON object/);
  });
});
