// What Docker Desktop provides to an extension's page, for the pages the browser test and
// `cargo xtask screenshots` open: `ddClient` (its host calls go to ./server.mjs, which runs the
// staged binary) and the theme Docker Desktop injects.

/**
 * Runs in the page before its scripts: what Docker Desktop provides. `exec` behaves like
 * Docker Desktop's: it resolves with the result on exit 0 and rejects with it otherwise.
 */
export function installDoubles({ execPath, platform, extraArgs = [] }) {
  window.__execCalls = [];
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
    extension: { host: { cli: { exec } } },
  };
  // Docker Desktop injects its theme options; the real ones are Docker Desktop's, these only
  // give the page something recognisable to apply.
  const primary = { main: "#1d63ed" };
  window.__ddMuiV6Themes = { light: { palette: { primary } }, dark: { palette: { mode: "dark", primary } } };
}
