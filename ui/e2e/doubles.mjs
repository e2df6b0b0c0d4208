// What Docker Desktop provides to an extension's page, for the pages the browser test and
// `cargo xtask screenshots` open: `ddClient` (its host calls go to ./server.mjs, which runs the
// staged binary; its `vm.service` calls go to the real VM service, forwarded by the same
// server) and the theme Docker Desktop injects.

// Without the background-networking flags Chromium keeps dialling Google, which this
// machine's closed network refuses (see the machine notes).
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Runs in the page before its scripts: what Docker Desktop provides. `exec` behaves like
 * Docker Desktop's: it resolves with the result on exit 0 and rejects with it otherwise.
 */
export function installDoubles({ execPath, vmPath, platform, extraArgs = [] }) {
  window.__execCalls = [];
  window.__vmCalls = [];
  // `vm.service`: the server forwards each request to the real service's socket. Like Docker
  // Desktop's, it resolves with the parsed JSON body on 2xx and rejects with a ServiceError
  // ({name, message, statusCode}) otherwise; with an Error when nothing listens.
  const request = async (method, url, data) => {
    window.__vmCalls.push([method, url]);
    const res = await fetch(vmPath, { method: "POST", body: JSON.stringify({ method, url, data }) });
    const out = await res.json();
    if (!res.ok) throw new Error(out.error);
    if (out.connectError) throw new Error(out.connectError);
    if (out.statusCode < 200 || out.statusCode > 299) {
      throw { name: "ServiceError", message: out.body, statusCode: out.statusCode };
    }
    try {
      return JSON.parse(out.body);
    } catch {
      return out.body;
    }
  };
  const service = {
    get: (url) => request("GET", url),
    post: (url, data) => request("POST", url, data),
    put: (url, data) => request("PUT", url, data),
    patch: (url, data) => request("PATCH", url, data),
    delete: (url) => request("DELETE", url),
    head: (url) => request("HEAD", url),
    request: (config) => request(config.method, config.url, config.data),
  };
  const exec = async (cmd, args) => {
    window.__execCalls.push([cmd, args]);
    args = [...args, ...extraArgs];
    const res = await fetch(execPath, { method: "POST", body: JSON.stringify({ cmd, args }) });
    const out = await res.json();
    if (!res.ok) throw new Error(out.error);
    if (out.spawnError) throw new Error(out.spawnError);
    const result = {
      ...out,
      lines: () => out.stdout.split("\n").filter(Boolean),
      parseJsonLines: () => out.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)),
      parseJsonObject: () => JSON.parse(out.stdout),
    };
    if (out.code !== 0) throw result;
    return result;
  };
  window.ddClient = {
    host: { platform, arch: "x64", hostname: "double", openExternal() {} },
    extension: { host: { cli: { exec } }, vm: { service } },
  };
  // Docker Desktop injects its theme options; the real ones are Docker Desktop's, these only
  // give the page something recognisable to apply.
  const primary = { main: "#1d63ed" };
  window.__ddMuiV6Themes = { light: { palette: { primary } }, dark: { palette: { mode: "dark", primary } } };
}
