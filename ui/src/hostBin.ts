// The host-call layer: runs the extension's own host binary through Docker Desktop and turns
// every way that can go wrong into a `HostCallError` with a message a person can act on.

import { createDockerDesktopClient } from "@docker/extension-api-client";
import metadata from "../../extension/metadata.json";

/** What an exec gives back: the fields of the SDK's `RawExecResult` that we read. */
export interface ExecOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly code?: number;
  readonly killed?: boolean;
  readonly signal?: string;
}

/** The part of Docker Desktop's client this layer uses; `v1.DockerDesktopClient` fits it. */
export interface HostBinClient {
  readonly host: { readonly platform: string };
  readonly extension: {
    readonly host?: {
      readonly cli: { exec(cmd: string, args: string[]): Promise<ExecOutput> };
    };
  };
}

declare global {
  interface Window {
    /** Set by Docker Desktop, or by a test harness before the page loads. */
    ddClient?: unknown;
  }
}

export type HostCallErrorKind =
  | "unavailable" // no Docker Desktop client, or it cannot run host binaries
  | "platform" // the host OS has no binary in metadata.json
  | "exec" // the binary could not be started
  | "exit" // it ran and failed
  | "timeout"
  | "bad-output" // it succeeded but printed something else than the expected JSON
  | "unreachable" // the VM service did not answer (not running, no socket)
  | "service"; // the VM service answered with an HTTP error

export class HostCallError extends Error {
  readonly kind: HostCallErrorKind;
  /** A short heading for the message, e.g. "host-bin info failed". */
  readonly title: string;

  constructor(kind: HostCallErrorKind, title: string, message: string) {
    super(message);
    this.name = "HostCallError";
    this.kind = kind;
    this.title = title;
  }
}

/** Docker Desktop's `host.platform` (Node's `os.platform()`) -> the OS key in metadata.json. */
const METADATA_OS: Record<string, "darwin" | "windows" | "linux"> = {
  darwin: "darwin",
  win32: "windows",
  linux: "linux",
};

interface BinaryEntry {
  readonly path: string;
}
type HostSection = { readonly binaries: ReadonlyArray<Record<string, ReadonlyArray<BinaryEntry>>> };

/**
 * The file name to hand `exec` on `platform`: the base name of the path metadata.json names for
 * that OS (`/windows/host-bin.exe` -> `host-bin.exe`), so the names are written down only once.
 */
export function binaryName(platform: string, host: HostSection = metadata.host): string {
  const os = METADATA_OS[platform];
  const path = os && host.binaries.find((b) => b[os]?.length)?.[os][0].path;
  if (!path) {
    const known = Object.keys(METADATA_OS).join(", ");
    throw new HostCallError(
      "platform",
      "Unsupported host",
      `Docker Desktop reports the host platform '${platform}', for which this extension ships ` +
        `no host binary (it ships one for ${known}).`,
    );
  }
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The client: one given explicitly (tests), else Docker Desktop's, looked up on each call. */
export type ClientSource<C = HostBinClient> = C | (() => C);

export function resolveClient<C extends object = HostBinClient>(source: ClientSource<C> | undefined): C {
  try {
    if (typeof source === "function") return source();
    if (source) return source;
    // Reads `window.ddClient`, which Docker Desktop (or a test harness) sets before load.
    return createDockerDesktopClient() as unknown as C;
  } catch (e) {
    throw new HostCallError(
      "unavailable",
      "Docker Desktop is not available",
      "This dashboard runs inside Docker Desktop: open it from the Extensions section of " +
        `Docker Desktop. (${messageOf(e)})`,
    );
  }
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface HostBinOptions {
  client?: ClientSource;
  timeoutMs?: number;
}

/** Runs `host-bin ARGS...` on the host and returns its stdout parsed as JSON. */
export async function runHostBin(args: string[], opts: HostBinOptions = {}): Promise<unknown> {
  const client = resolveClient(opts.client);
  const exec = client.extension?.host?.cli?.exec;
  if (typeof exec !== "function") {
    throw new HostCallError(
      "unavailable",
      "Host binaries are not available",
      "This version of Docker Desktop cannot run extension host binaries: update Docker Desktop.",
    );
  }
  const name = binaryName(client.host?.platform);
  const shown = [name.replace(/\.exe$/, ""), ...args].join(" ");
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  let out: ExecOutput;
  let failed = false;
  try {
    out = await withTimeout(exec.call(client.extension.host!.cli, name, args), timeoutMs, () => {
      return new HostCallError(
        "timeout",
        `${shown} timed out`,
        `\`${shown}\` did not finish within ${formatSeconds(timeoutMs)}. ` +
          "The host may be busy; try again.",
      );
    });
  } catch (e) {
    if (e instanceof HostCallError) throw e;
    // Docker Desktop rejects with the exec result ({stdout, stderr, code}) when the command
    // exits non-zero; anything else means the binary never ran.
    if (!isExecOutput(e)) {
      throw new HostCallError("exec", `${shown} could not run`, `Could not run \`${shown}\`: ${messageOf(e)}`);
    }
    out = e;
    failed = true;
  }
  if (failed || (out.code !== undefined && out.code !== null && out.code !== 0)) {
    throw exitError(shown, out);
  }
  return parseStdout(shown, out.stdout);
}

function exitError(shown: string, out: ExecOutput): HostCallError {
  const how =
    out.signal || out.killed
      ? `was stopped${out.signal ? ` by ${out.signal}` : ""}`
      : `exited with code ${out.code ?? "unknown"}`;
  return new HostCallError("exit", `${shown} failed`, `\`${shown}\` ${how}: ${stderrMessage(out.stderr)}`);
}

/** host-bin reports errors as one `{"error":"..."}` line on stderr; anything else is shown raw. */
export function stderrMessage(stderr: string | undefined): string {
  const text = (stderr ?? "").trim();
  if (!text) return "it printed no error message.";
  const last = text.split("\n").pop()!.trim();
  try {
    const value: unknown = JSON.parse(last);
    if (isRecord(value) && typeof value.error === "string" && value.error) return value.error;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return excerpt(text);
}

function parseStdout(shown: string, stdout: string | undefined): unknown {
  const text = (stdout ?? "").trim();
  try {
    return JSON.parse(text);
  } catch {
    throw badOutput(shown, text ? "it is not JSON" : "it printed nothing", text);
  }
}

export function badOutput(shown: string, why: string, output: string): HostCallError {
  const tail = output ? ` Output: ${excerpt(output)}` : "";
  return new HostCallError(
    "bad-output",
    `Unexpected output from ${shown}`,
    `\`${shown}\` printed something other than the expected JSON (${why}): the extension's UI ` +
      `and host binary may be from different versions.${tail}`,
  );
}

export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function isExecOutput(e: unknown): e is ExecOutput {
  return isRecord(e) && !(e instanceof Error) && ("stderr" in e || "code" in e);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (isRecord(e) && typeof e.message === "string") return e.message;
  return String(e);
}

export function excerpt(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
