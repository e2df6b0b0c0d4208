// A stand-in for Docker Desktop's side of an extension, for the browser test: serves a STAGED
// UI directory, runs the STAGED Linux host binary on request, the way
// `ddClient.extension.host.cli.exec` does inside Docker Desktop, and runs the STAGED VM service
// on a Unix socket named as metadata.json's `vm.exposes.socket`, forwarding
// `ddClient.extension.vm.service` requests to it over that socket as Docker Desktop does.
//
//   node e2e/server.mjs [STAGE_DIR] [PORT]   (STAGE_DIR e.g. ../target/dist/stage/linux-amd64)
//
// VM_SERVICE_BIN names another service binary than `<STAGE_DIR>/vm-service` (e.g. a host build).

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const EXEC_PATH = "/__e2e/exec";
export const VM_PATH = "/__e2e/vm";
export const EXEC_TIMEOUT_MS = 10_000;

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** What the staged metadata.json says: the UI directory and the Linux binaries' directory. */
export async function stagedLayout(stageDir) {
  const meta = JSON.parse(await readFile(path.join(stageDir, "metadata.json"), "utf8"));
  const tab = Object.values(meta.ui ?? {})[0];
  if (!tab) throw new Error(`${stageDir}/metadata.json has no ui section`);
  const linux = meta.host?.binaries?.find((b) => b.linux)?.linux?.[0]?.path;
  if (!linux) throw new Error(`${stageDir}/metadata.json names no Linux host binary`);
  return {
    uiDir: path.join(stageDir, tab.root),
    entry: tab.src,
    binDir: path.join(stageDir, path.dirname(linux)),
    binName: path.basename(linux),
    // Docker Desktop runs the image's service with /run/guest-services mounted; here the
    // staged binary itself runs, on a socket of the same name in a temporary directory.
    socketName: meta.vm?.exposes?.socket,
    serviceBin: process.env.VM_SERVICE_BIN || path.join(stageDir, "vm-service"),
  };
}

/**
 * The VM service as a child process on `<tmpdir>/<socketName>`: `start()` resolves once the
 * socket accepts connections, `stop()` sends SIGTERM and resolves with the exit code. `log`
 * collects its stdout lines.
 */
export function vmService(layout) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ui-e2e-vm-"));
  const socket = path.join(dir, layout.socketName);
  let child = null;
  const service = {
    socket,
    log: [],
    running: () => child !== null,
    async start() {
      if (child) return;
      child = spawn(layout.serviceBin, ["--socket", socket], { stdio: ["ignore", "pipe", "inherit"] });
      createInterface({ input: child.stdout }).on("line", (line) => service.log.push(line));
      const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
      child.exited = exited;
      const deadline = Date.now() + 10_000;
      while (!(await connects(socket))) {
        const gone = await Promise.race([exited, sleep(20).then(() => null)]);
        if (gone) throw new Error(`${layout.serviceBin} exited (${JSON.stringify(gone)}) before listening on ${socket}`);
        if (Date.now() > deadline) throw new Error(`${layout.serviceBin}: no socket at ${socket} after 10 s`);
      }
    },
    async stop() {
      if (!child) return null;
      const c = child;
      child = null;
      c.kill("SIGTERM");
      return c.exited;
    },
    async close() {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return service;
}

function connects(socket) {
  if (!existsSync(socket)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once("connect", () => (s.end(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the server on 127.0.0.1, and the VM service when metadata.json has a `vm` section;
 * resolves to `{ url, layout, service, close() }` (`service` is null without one).
 */
export async function startServer(stageDir, port = 0) {
  const layout = await stagedLayout(stageDir);
  const service = layout.socketName ? vmService(layout) : null;
  await service?.start();
  const server = createServer((req, res) => {
    handle(layout, service, req, res).catch((e) => send(res, 500, { error: String(e?.stack ?? e) }));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    layout,
    service,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await service?.close();
    },
  };
}

async function handle(layout, service, req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === EXEC_PATH && req.method === "POST") {
    return runBinary(layout, JSON.parse(await body(req)), res);
  }
  if (url.pathname === VM_PATH && req.method === "POST") {
    if (!service) return send(res, 400, { error: "metadata.json has no vm.exposes.socket" });
    return forwardToService(service.socket, JSON.parse(await body(req)), res);
  }
  if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, { error: "method not allowed" });
  const rel = url.pathname === "/" ? layout.entry : decodeURIComponent(url.pathname.slice(1));
  const file = path.resolve(layout.uiDir, rel);
  if (!file.startsWith(path.resolve(layout.uiDir) + path.sep)) return send(res, 403, { error: "outside ui/" });
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return send(res, 404, { error: `${rel} is not in the staged UI` });
  res.writeHead(200, {
    "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : await readFile(file));
}

/** Runs `<binDir>/<cmd> ...args` without a shell and answers `{stdout, stderr, code}`. */
function runBinary(layout, { cmd, args }, res) {
  // Only a plain file name, as Docker Desktop takes: the page must ask for the name the
  // metadata gives for this OS, and cannot reach anything outside the binaries' directory.
  if (typeof cmd !== "string" || !/^[\w.-]+$/.test(cmd) || !Array.isArray(args)) {
    return send(res, 400, { error: `bad exec request: ${JSON.stringify({ cmd, args })}` });
  }
  const bin = path.join(layout.binDir, cmd);
  execFile(bin, args.map(String), { timeout: EXEC_TIMEOUT_MS }, (err, stdout, stderr) => {
    if (err?.killed || err?.signal) {
      return send(res, 200, { stdout, stderr, killed: true, signal: err.signal ?? undefined });
    }
    if (err && typeof err.code !== "number") {
      // Not an exit status: the binary never ran (ENOENT, EACCES).
      return send(res, 200, { stdout, stderr, spawnError: `${err.code}: ${err.message}` });
    }
    send(res, 200, { stdout, stderr, code: err ? err.code : 0 });
  });
}

/**
 * One HTTP request to the service over its Unix socket; answers `{statusCode, body}`, or
 * `{connectError}` when nothing listens there (the service stopped or never started).
 */
function forwardToService(socket, { method, url, data }, res) {
  if (typeof method !== "string" || typeof url !== "string" || !url.startsWith("/")) {
    return send(res, 400, { error: `bad vm request: ${JSON.stringify({ method, url })}` });
  }
  const payload = data === undefined ? undefined : JSON.stringify(data);
  const headers = payload === undefined ? {} : { "content-type": "application/json" };
  const forwarded = httpRequest({ socketPath: socket, path: url, method, headers, timeout: EXEC_TIMEOUT_MS }, (answer) => {
    const chunks = [];
    answer.on("data", (c) => chunks.push(c));
    answer.on("end", () =>
      send(res, 200, { statusCode: answer.statusCode, body: Buffer.concat(chunks).toString("utf8") }),
    );
  });
  forwarded.on("timeout", () => forwarded.destroy(new Error(`no answer within ${EXEC_TIMEOUT_MS} ms`)));
  forwarded.on("error", (e) => send(res, 200, { connectError: `${e.code ?? "error"}: ${e.message}` }));
  forwarded.end(payload);
}

function body(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res, status, value) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const arch = process.arch === "arm64" ? "arm64" : "amd64";
  const stageDir = path.resolve(process.argv[2] ?? path.join(here, `../../target/dist/stage/linux-${arch}`));
  const { url, layout, service } = await startServer(stageDir, Number(process.argv[3] ?? 0));
  console.log(`serving ${layout.uiDir} at ${url}; ${EXEC_PATH} runs ${layout.binDir}/<name>`);
  if (service) console.log(`${VM_PATH} forwards to ${layout.serviceBin} on ${service.socket}`);
  const stop = () => service?.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
