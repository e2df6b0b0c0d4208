// The Marketplace screenshots, for `cargo xtask screenshots`: the staged UI served with the
// staged host binary behind the ddClient double (as the browser test does), photographed
// in headless Chromium in Docker Desktop's light and dark themes at 2400x1600 (a 1200x800
// window at device scale 2: the size Docker's labels page recommends).
//
//   node e2e/screenshots.mjs STAGE_DIR OUT_DIR    (UI_E2E_CHROMIUM: the browser binary)

import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { chromium } from "playwright-core";

import { CHROMIUM_ARGS, installDoubles } from "./doubles.mjs";
import { EXEC_PATH, VM_PATH, startServer } from "./server.mjs";

const [stageDir, outDir] = process.argv.slice(2);
if (!stageDir || !outDir) {
  console.error("usage: node e2e/screenshots.mjs STAGE_DIR OUT_DIR");
  process.exit(2);
}
const SHOTS = { light: "dashboard.png", dark: "dashboard-dark.png" };

const server = await startServer(path.resolve(stageDir));
// One port held while the pictures are taken, so the port checker shows both answers.
const held = net.createServer();
await new Promise((resolve) => held.listen(0, "0.0.0.0", resolve));
const profile = mkdtempSync(path.join(os.tmpdir(), "xtask-screenshots-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.UI_E2E_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 800 },
    deviceScaleFactor: 2,
  });
  context.setDefaultTimeout(15_000);
  for (const [scheme, file] of Object.entries(SHOTS)) {
    const page = await context.newPage();
    await page.emulateMedia({ colorScheme: scheme });
    await page.addInitScript(installDoubles, { execPath: EXEC_PATH, vmPath: VM_PATH, platform: "linux" });
    await page.goto(server.url);
    await page.getByRole("table", { name: "Host facts" }).waitFor();
    await page.getByRole("table", { name: "VM facts" }).waitFor();
    await page.getByLabel("TCP ports").fill(`${held.address().port}, 8080`);
    await page.getByRole("button", { name: "Check" }).click();
    await page.getByRole("table", { name: "Port check results" }).waitFor();
    await page.mouse.move(0, 0); // no hover colour in the picture
    const target = path.join(path.resolve(outDir), file);
    await page.screenshot({ path: target });
    console.log(`wrote ${target} (${scheme})`);
    await page.close();
  }
} finally {
  await context?.close();
  await server.close();
  await new Promise((resolve) => held.close(resolve));
  rmSync(profile, { recursive: true, force: true });
}
