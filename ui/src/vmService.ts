// The VM-service layer: asks the extension's service in Docker Desktop's VM for its facts
// through `ddClient.extension.vm.service` (HTTP over the service's Unix socket, proxied by
// Docker Desktop) and turns every way that can fail into a `HostCallError` a person can act on.

import {
  type ClientSource,
  excerpt,
  formatSeconds,
  HostCallError,
  isRecord,
  messageOf,
  resolveClient,
  withTimeout,
} from "./hostBin";

/** What `GET /facts` answers (the contract is in vm/src/facts.rs). */
export interface VmFacts {
  kernel: string;
  os: string;
  /** Docker's platform word: "amd64", "arm64". */
  arch: string;
  /** `uname -m`: "x86_64", "aarch64". */
  machine: string;
  cpus: number;
  memory_bytes: number;
  uptime_seconds: number;
  version: string;
}

/** The part of Docker Desktop's client this layer uses; `v1.DockerDesktopClient` fits it. */
export interface VmServiceClient {
  readonly extension: {
    readonly vm?: { readonly service?: { get(url: string): Promise<unknown> } };
  };
}

export interface VmApi {
  facts(): Promise<VmFacts>;
}

export interface VmApiOptions {
  client?: ClientSource<VmServiceClient>;
  timeoutMs?: number;
}

export const VM_TIMEOUT_MS = 10_000;

export function vmApi(opts: VmApiOptions = {}): VmApi {
  return {
    async facts() {
      return checkVmFacts(await getFromService("/facts", opts), "GET /facts");
    },
  };
}

async function getFromService(path: string, opts: VmApiOptions): Promise<unknown> {
  const client = resolveClient<VmServiceClient>(opts.client);
  const service = client.extension?.vm?.service;
  if (typeof service?.get !== "function") {
    throw new HostCallError(
      "unavailable",
      "The VM service is not available",
      "Docker Desktop gives this page no `vm.service`: the extension's metadata.json may have no " +
        "`vm` section, or this Docker Desktop is too old.",
    );
  }
  const timeoutMs = opts.timeoutMs ?? VM_TIMEOUT_MS;
  try {
    return await withTimeout(service.get(path), timeoutMs, () => {
      return new HostCallError(
        "timeout",
        `GET ${path} timed out`,
        `The extension's service in Docker Desktop's VM did not answer \`GET ${path}\` within ` +
          `${formatSeconds(timeoutMs)}.`,
      );
    });
  } catch (e) {
    if (e instanceof HostCallError) throw e;
    throw serviceError(path, e);
  }
}

/**
 * Docker Desktop rejects with a `ServiceError` (`{name, message, statusCode}`): a status the
 * service answered with, or none when nothing answered on the socket at all.
 */
export function serviceError(path: string, e: unknown): HostCallError {
  const status = isRecord(e) && typeof e.statusCode === "number" ? e.statusCode : undefined;
  const detail = serviceMessage(e);
  if (status !== undefined && status > 0 && status < 500) {
    return new HostCallError(
      "service",
      `GET ${path} failed`,
      `The extension's service in Docker Desktop's VM answered HTTP ${status}: ${detail}`,
    );
  }
  return new HostCallError(
    "unreachable",
    "The VM service is not reachable",
    "The extension's service in Docker Desktop's VM did not answer " +
      `(${status !== undefined ? `HTTP ${status}: ` : ""}${detail}). It may still be starting, ` +
      "or it stopped: Docker Desktop shows its log under the extension's containers.",
  );
}

/** The service's own `{"error": "..."}` when the message carries it, else the message. */
function serviceMessage(e: unknown): string {
  const text = messageOf(e).trim();
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value) && typeof value.error === "string" && value.error) return value.error;
  } catch {
    // Not JSON: the message itself.
  }
  return text ? excerpt(text) : "no details were given";
}

/** Returns `value` as VmFacts, or throws a bad-output error naming the first wrong field. */
export function checkVmFacts(value: unknown, shown: string): VmFacts {
  const fail = (why: string) =>
    new HostCallError(
      "bad-output",
      `Unexpected answer to ${shown}`,
      `The extension's service in Docker Desktop's VM answered something other than its facts ` +
        `(${why}): the UI and the service may be from different versions. ` +
        `Answer: ${excerpt(JSON.stringify(value) ?? String(value))}`,
    );
  if (!isRecord(value)) throw fail("expected a JSON object");
  for (const key of ["kernel", "os", "arch", "machine", "version"] as const) {
    if (typeof value[key] !== "string" || value[key] === "") {
      throw fail(`"${key}" should be a non-empty string`);
    }
  }
  for (const key of ["cpus", "memory_bytes", "uptime_seconds"] as const) {
    const n = value[key];
    if (!Number.isInteger(n) || (n as number) < (key === "uptime_seconds" ? 0 : 1)) {
      throw fail(`"${key}" should be a ${key === "uptime_seconds" ? "non-negative" : "positive"} integer`);
    }
  }
  const { kernel, os, arch, machine, cpus, memory_bytes, uptime_seconds, version } =
    value as unknown as VmFacts;
  return { kernel, os, arch, machine, cpus, memory_bytes, uptime_seconds, version };
}
