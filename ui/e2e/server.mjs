// A stand-in for Docker Desktop's side of an extension, for the browser test: serves a STAGED
// UI directory and runs the STAGED Linux host binary on request, the way
// `ddClient.extension.host.cli.exec` does inside Docker Desktop.
//
//   node e2e/server.mjs [STAGE_DIR] [PORT]   (STAGE_DIR e.g. ../target/dist/stage/linux-amd64)

import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const EXEC_PATH = "/__e2e/exec";
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
  };
}

/** Starts the server on 127.0.0.1; resolves to `{ url, layout, close() }`. */
export async function startServer(stageDir, port = 0) {
  const layout = await stagedLayout(stageDir);
  const server = createServer((req, res) => {
    handle(layout, req, res).catch((e) => send(res, 500, { error: String(e?.stack ?? e) }));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    layout,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function handle(layout, req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === EXEC_PATH && req.method === "POST") {
    return runBinary(layout, JSON.parse(await body(req)), res);
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
  const { url, layout } = await startServer(stageDir, Number(process.argv[3] ?? 0));
  console.log(`serving ${layout.uiDir} at ${url}; ${EXEC_PATH} runs ${layout.binDir}/<name>`);
}
