// The staged dashboard in real headless Chromium, talking to the real staged host binary and
// to the real staged VM service over its Unix socket.
//
//   UI_E2E_STAGE=../target/dist/stage/linux-amd64 npm run test:e2e
//
// UI_E2E_STAGE is one staged platform directory (metadata.json, ui/, linux/); it defaults to
// the one for this machine's CPU. The binary that runs is the staged Linux one, so the stage
// must match this machine's CPU; so must the VM service, `<stage>/vm-service` (or
// VM_SERVICE_BIN), which runs on a socket named as metadata.json's `vm.exposes.socket`. Under CI a missing Chromium or stage fails the test: a
// skipped browser test checks nothing.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { CHROMIUM_ARGS, installDoubles } from "./doubles.mjs";
import { EXEC_PATH, VM_PATH, stagedLayout, startServer } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const CHROMIUM = process.env.UI_E2E_CHROMIUM || "/usr/bin/chromium";
const ARCH = { x64: "amd64", arm64: "arm64" }[process.arch];
const STAGE = path.resolve(process.env.UI_E2E_STAGE || path.join(repo, `target/dist/stage/linux-${ARCH}`));
const SHOTS = path.join(repo, "target/ui-e2e");
const DOCKER_BLUE = "rgb(29, 99, 237)";

/** Why the test cannot run here, or null. */
async function missingPrerequisite() {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    return `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set UI_E2E_CHROMIUM)`;
  }
  if (!ARCH) return `no staged Linux binary runs on CPU ${process.arch}`;
  const restage = `run \`cargo xtask stage --platform linux/${ARCH}\` or set UI_E2E_STAGE`;
  let layout;
  try {
    layout = await stagedLayout(STAGE);
    const page = readFileSync(path.join(layout.uiDir, layout.entry), "utf8");
    if (!page.includes("./assets/")) return `the UI staged in ${STAGE} is not a Vite build: ${restage}`;
  } catch (e) {
    return `no staged UI in ${STAGE} (${e.message}): ${restage}`;
  }
  try {
    accessSync(path.join(layout.binDir, layout.binName), constants.X_OK);
  } catch {
    return `no executable ${path.join(layout.binDir, layout.binName)}: run \`cargo xtask stage --platform linux/${ARCH}\``;
  }
  if (!layout.socketName) return `${STAGE}/metadata.json has no vm.exposes.socket: ${restage}`;
  try {
    accessSync(layout.serviceBin, constants.X_OK);
  } catch {
    return `no executable VM service ${layout.serviceBin}: ${restage} (or set VM_SERVICE_BIN)`;
  }
  return null;
}

const missing = await missingPrerequisite();
if (missing && process.env.CI) {
  test("prerequisites", () => assert.fail(`missing prerequisite: ${missing}`));
}

describe("staged dashboard in Chromium", { skip: missing ?? false, timeout: 120_000 }, () => {
  let server, context, page, profile;
  let held; // a port this test keeps busy on 0.0.0.0
  const pageErrors = [];

  before(async () => {
    const { chromium } = await import("playwright-core");
    server = await startServer(STAGE);
    held = net.createServer();
    await new Promise((resolve) => held.listen(0, "0.0.0.0", resolve));
    mkdirSync(SHOTS, { recursive: true });
    profile = mkdtempSync(path.join(os.tmpdir(), "ui-e2e-profile-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1000, height: 900 },
    });
    // Fail within the host call's own 10 s timeout plus margin, not Playwright's 30 s.
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e));
    await page.addInitScript(installDoubles, { execPath: EXEC_PATH, vmPath: VM_PATH, platform: "linux" });
  });

  after(async () => {
    await context?.close();
    await server?.close();
    await new Promise((resolve) => (held ? held.close(resolve) : resolve()));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test("shows the facts the staged binary prints", async () => {
    const printed = JSON.parse(
      execFileSync(path.join(server.layout.binDir, server.layout.binName), ["info"], { encoding: "utf8" }),
    );
    assert.equal(printed.hostname, os.hostname());

    await page.goto(server.url);
    const facts = page.getByRole("table", { name: "Host facts" });
    await facts.waitFor();
    const fact = (label) => facts.getByRole("row", { name: label }).getByRole("cell").innerText();
    assert.equal(await fact("Host name"), os.hostname());
    assert.equal(await fact("CPUs"), String(os.availableParallelism()));
    assert.equal(await fact("CPU architecture"), printed.arch);
    assert.equal(await fact("Operating system"), `Linux (${printed.family})`);
    assert.equal(await fact("Extension version"), printed.version);
    assert.deepEqual(await page.evaluate(() => window.__execCalls), [["host-bin", ["info"]]]);
  });

  test("shows the facts the real VM service answers, and what differs", async () => {
    // Asked directly over the socket, as Docker Desktop's proxy does.
    const served = await getOverSocket(server.service.socket, "/facts");
    assert.equal(served.arch, ARCH);
    const vm = page.getByRole("table", { name: "VM facts" });
    await vm.waitFor();
    const fact = (label) => vm.getByRole("row", { name: label }).getByRole("cell").innerText();
    assert.equal(await fact("Operating system"), served.os);
    assert.equal(await fact("Kernel"), served.kernel);
    assert.equal(await fact("CPU architecture"), `${served.arch} (${served.machine})`);
    assert.equal(await fact("CPUs"), String(served.cpus));
    assert.equal(await fact("Service version"), served.version);
    // Here the "VM" is this machine itself: Linux, same CPU; the page must say so.
    const note = page.getByRole("note", { name: "Differences" });
    await note.waitFor();
    const text = await note.innerText();
    if (served.cpus === os.availableParallelism()) {
      assert.match(text, /report the same OS family, CPU architecture and CPU count/);
    } else {
      assert.match(text, /What differs/); // a CPU quota on this machine makes the counts differ
    }
    assert.deepEqual(await page.evaluate(() => window.__vmCalls), [["GET", "/facts"]]);
    assert.ok(
      server.service.log.some((line) => line.startsWith("GET /facts 200 ")),
      `no request line in the service's log:\n${server.service.log.join("\n")}`,
    );
  });

  test("reports a held port as in use and a free one as free", async () => {
    const busy = held.address().port;
    const free = await freePort();
    // Docker Desktop's theme (injected below as Docker Desktop does) styles the page; read
    // before the click, which leaves the button in its hover colour.
    const check = page.getByRole("button", { name: "Check" });
    assert.equal(await check.evaluate((b) => getComputedStyle(b).backgroundColor), DOCKER_BLUE);
    await page.getByLabel("TCP ports").fill(`${busy}, ${free}`);
    await check.click();
    const results = page.getByRole("table", { name: "Port check results" });
    await results.waitFor();
    const row = (port) => results.locator(`tr[data-port="${port}"]`);
    assert.equal(await row(busy).getByRole("cell").first().innerText(), "in use");
    // The OS's own words, as the binary prints them (musl says "Address in use").
    const direct = JSON.parse(spawnResult(server, ["port-check", String(busy)]).stdout).ports[0];
    assert.equal(direct.free, false);
    assert.equal(await row(busy).getByRole("cell").nth(1).innerText(), direct.reason);
    assert.equal(await row(free).getByRole("cell").first().innerText(), "free");

    await page.mouse.move(0, 0); // no hover colour in the picture
    await page.screenshot({ path: path.join(SHOTS, "dashboard.png"), fullPage: true });
  });

  /** A second page with its own doubles; closed by the caller. */
  async function pageWith(options) {
    const p = await context.newPage();
    p.on("pageerror", (e) => pageErrors.push(e));
    await p.addInitScript(installDoubles, { execPath: EXEC_PATH, vmPath: VM_PATH, platform: "linux", ...options });
    await p.goto(server.url);
    return p;
  }

  test("shows the staged binary's own error when it exits non-zero", async () => {
    // The page never sends bad arguments itself, so this double appends one to every call.
    const staged = spawnResult(server, ["info", "--bogus"]);
    assert.notEqual(staged.code, 0);
    const { error } = JSON.parse(staged.stderr);
    const p = await pageWith({ extraArgs: ["--bogus"] });
    const alert = p.getByRole("alert");
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, /host-bin info failed/);
    assert.ok(text.includes(`exited with code ${staged.code}: ${error}`), text);
    assert.ok(await p.getByRole("button", { name: "Retry" }).isVisible());
    await p.screenshot({ path: path.join(SHOTS, "dashboard-error.png"), fullPage: true });
    await p.close();
  });

  test("explains a binary that cannot start", async () => {
    // On "win32" the page asks for host-bin.exe, which the Linux stage does not have.
    const p = await pageWith({ platform: "win32" });
    const alert = p.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /Could not run `host-bin info`: ENOENT/);
    await p.close();
  });

  test("shows the VM as unreachable while the service is stopped, and recovers on retry", async () => {
    const exit = await server.service.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, "SIGTERM should stop the service with exit 0");
    assert.equal(existsSync(server.service.socket), false, "the stopped service left its socket");
    const p = await pageWith({});
    try {
      const panel = p.getByRole("region", { name: "Docker Desktop's VM" });
      const alert = panel.getByRole("alert");
      await alert.waitFor();
      assert.match(await alert.innerText(), /The VM service is not reachable/);
      assert.match(await alert.innerText(), /ENOENT/);
      // The host's side does not depend on the service.
      await p.getByRole("table", { name: "Host facts" }).waitFor();
      await p.screenshot({ path: path.join(SHOTS, "dashboard-vm-unreachable.png"), fullPage: true });

      await server.service.start();
      await panel.getByRole("button", { name: "Retry" }).click();
      await panel.getByRole("table", { name: "VM facts" }).waitFor();
      assert.equal(await alert.count(), 0);
    } finally {
      await p.close();
    }
  });

  test("no uncaught errors on the page", () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});

/** `GET path` over the service's Unix socket, parsed; for comparing with what the page shows. */
function getOverSocket(socketPath, urlPath) {
  return new Promise((resolve, reject) => {
    httpGet({ socketPath, path: urlPath }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${res.statusCode}: ${text}`))));
    }).on("error", reject);
  });
}

/** Runs the staged binary the way the server does, for comparing with what the page shows. */
function spawnResult(server, args) {
  try {
    const stdout = execFileSync(path.join(server.layout.binDir, server.layout.binName), args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { code: 0, stdout, stderr: "" };
  } catch (e) {
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "0.0.0.0", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
