import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { App } from "./App";
import type { HostApi, HostInfo } from "./api";
import { HostCallError, type ExecOutput } from "./hostBin";
import type { VmApi, VmFacts } from "./vmService";

const INFO: HostInfo = { arch: "aarch64", cpus: 8, family: "unix", hostname: "build-mac", os: "macos", version: "0.1.0" };

function fakeApi(over: Partial<HostApi> = {}): HostApi {
  return {
    info: vi.fn(() => Promise.resolve(INFO)),
    portCheck: vi.fn((ports: number[]) => Promise.resolve(ports.map((port) => ({ port, free: port % 2 === 0 })))),
    ...over,
  };
}

const VM: VmFacts = {
  kernel: "6.10.14-linuxkit",
  os: "Linux",
  arch: "arm64",
  machine: "aarch64",
  cpus: 4,
  memory_bytes: 8 * 1024 ** 3,
  uptime_seconds: 3720,
  version: "0.1.0",
};

function fakeVm(facts: VmApi["facts"] = () => Promise.resolve(VM)): VmApi {
  return { facts: vi.fn(facts) };
}

/** The value beside `label` in the table named `table` (default: the host's). */
function fact(label: string, table = "Host facts"): string {
  const scope = within(screen.getByRole("table", { name: table }));
  const row = scope.getByRole("rowheader", { name: label }).closest("tr")!;
  return within(row).getAllByRole("cell")[0].textContent!;
}

afterEach(() => {
  cleanup();
  delete window.ddClient;
  // Declared non-optional by @docker/docker-mui-theme; Docker Desktop sets it, tests may not.
  Reflect.deleteProperty(window, "__ddMuiV6Themes");
});

describe("host facts", () => {
  it("shows what host-bin info reported", async () => {
    render(<App api={fakeApi()} vm={fakeVm()} />);
    const hostPanel = within(screen.getByRole("region", { name: "Your machine" }));
    expect(hostPanel.getByRole("status").textContent).toMatch(/Asking the host/);
    await screen.findByRole("table", { name: "Host facts" });
    expect(fact("Operating system")).toBe("macOS (unix)");
    expect(fact("CPU architecture")).toBe("aarch64");
    expect(fact("Host name")).toBe("build-mac");
    expect(fact("CPUs")).toBe("8");
    expect(fact("Extension version")).toBe("0.1.0");
  });

  it("shows the error and recovers on retry", async () => {
    const info = vi
      .fn<HostApi["info"]>()
      .mockRejectedValueOnce(new HostCallError("exit", "host-bin info failed", "`host-bin info` exited with code 1: boom"))
      .mockResolvedValueOnce(INFO);
    render(<App api={fakeApi({ info })} vm={fakeVm()} />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("host-bin info failed");
    expect(alert.textContent).toContain("`host-bin info` exited with code 1: boom");
    await userEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByRole("table", { name: "Host facts" });
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("renders a message, not a blank page, outside Docker Desktop", async () => {
    // No api injected, no window.ddClient, no Docker theme: the real code paths.
    render(<App />);
    await waitFor(() => expect(screen.getAllByRole("alert")).toHaveLength(2));
    for (const alert of screen.getAllByRole("alert")) {
      expect(alert.textContent).toContain("Docker Desktop is not available");
    }
    expect(screen.getByRole("heading", { name: "Host Facts" })).toBeTruthy();
  });
});

describe("Docker Desktop's VM", () => {
  const vmPanel = () => within(screen.getByRole("region", { name: "Docker Desktop's VM" }));

  it("shows the service's facts beside the host's", async () => {
    render(<App api={fakeApi()} vm={fakeVm()} />);
    expect(vmPanel().getByRole("status").textContent).toMatch(/Asking the VM service/);
    await screen.findByRole("table", { name: "VM facts" });
    expect(screen.getByRole("region", { name: "Your machine" })).toBeTruthy();
    expect(fact("Operating system", "VM facts")).toBe("Linux");
    expect(fact("Kernel", "VM facts")).toBe("6.10.14-linuxkit");
    expect(fact("CPU architecture", "VM facts")).toBe("arm64 (aarch64)");
    expect(fact("CPUs", "VM facts")).toBe("4");
    expect(fact("Memory", "VM facts")).toBe("8.0 GiB");
    expect(fact("Uptime", "VM facts")).toBe("1 h 2 min");
    expect(fact("Service version", "VM facts")).toBe("0.1.0");
  });

  it("makes what differs visible once both have answered", async () => {
    render(<App api={fakeApi()} vm={fakeVm()} />);
    const table = await screen.findByRole("table", { name: "What differs" });
    const rows = within(table).getAllByRole("row").slice(1);
    // INFO is an arm64 Mac with 8 CPUs; VM is arm64 Linux with 4: same CPU, other OS and count.
    expect(rows.map((r) => r.getAttribute("data-fact"))).toEqual(["Operating system", "CPUs"]);
    expect(rows[0].textContent).toContain("macOS");
    expect(rows[0].textContent).toContain("6.10.14-linuxkit");
    expect(rows[1].textContent).toContain("the 4 CPUs");
  });

  it("says so when nothing differs", async () => {
    const linuxHost = { ...INFO, os: "linux", arch: "aarch64", cpus: 4 };
    render(<App api={fakeApi({ info: () => Promise.resolve(linuxHost) })} vm={fakeVm()} />);
    const note = await screen.findByRole("note", { name: "Differences" });
    expect(note.textContent).toMatch(/report the same OS family, CPU architecture and CPU count/);
  });

  it("shows an unreachable service with a retry, and the host's facts regardless", async () => {
    const facts = vi
      .fn<VmApi["facts"]>()
      .mockRejectedValueOnce(
        new HostCallError("unreachable", "The VM service is not reachable", "connect ENOENT host-facts.sock"),
      )
      .mockResolvedValueOnce(VM);
    render(<App api={fakeApi()} vm={{ facts }} />);
    const alert = await vmPanel().findByRole("alert");
    expect(alert.textContent).toContain("The VM service is not reachable");
    expect(alert.textContent).toContain("connect ENOENT host-facts.sock");
    await screen.findByRole("table", { name: "Host facts" });
    expect(screen.queryByRole("note", { name: "Differences" })).toBeNull();
    await userEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByRole("table", { name: "VM facts" });
    expect(screen.queryByRole("alert")).toBeNull();
    expect(facts).toHaveBeenCalledTimes(2);
    await screen.findByRole("table", { name: "What differs" });
  });
});

describe("port checker", () => {
  it("checks the ports typed and shows which are free", async () => {
    const api = fakeApi();
    render(<App api={api} vm={fakeVm()} />);
    await userEvent.type(screen.getByLabelText("TCP ports"), "8080, 5433");
    await userEvent.click(screen.getByRole("button", { name: "Check" }));
    const table = await screen.findByRole("table", { name: "Port check results" });
    expect(api.portCheck).toHaveBeenCalledWith([8080, 5433]);
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.textContent)).toEqual(["8080freeCan be bound on 0.0.0.0", "5433in useCannot be bound"]);
  });

  it("explains bad input without calling the host", async () => {
    const api = fakeApi();
    render(<App api={api} vm={fakeVm()} />);
    await userEvent.type(screen.getByLabelText("TCP ports"), "http{enter}");
    expect(await screen.findByText("'http' is not a TCP port: use whole numbers from 1 to 65535.")).toBeTruthy();
    expect(api.portCheck).not.toHaveBeenCalled();
  });

  it("shows a failed check as an alert", async () => {
    const portCheck = vi.fn(() =>
      Promise.reject(new HostCallError("timeout", "host-bin port-check 80 timed out", "did not finish within 10 s.")),
    );
    render(<App api={fakeApi({ portCheck })} vm={fakeVm()} />);
    await userEvent.type(screen.getByLabelText("TCP ports"), "80{enter}");
    await waitFor(() => expect(screen.getAllByRole("alert")).toHaveLength(1));
    expect(screen.getByRole("alert").textContent).toContain("host-bin port-check 80 timed out");
  });
});

describe("the whole page through window.ddClient", () => {
  it("runs the Windows binary name and shows its reasons", async () => {
    const exec = vi.fn((_cmd: string, args: string[]): Promise<ExecOutput> => {
      const stdout =
        args[0] === "info"
          ? JSON.stringify({ ...INFO, os: "windows", family: "windows" })
          : '{"ports":[{"port":445,"free":false,"reason":"access denied"}]}';
      return Promise.resolve({ stdout, stderr: "" });
    });
    const get = vi.fn((url: string) =>
      Promise.resolve({ ...VM, arch: "amd64", machine: "x86_64", url }),
    );
    window.ddClient = {
      host: { platform: "win32" },
      extension: { host: { cli: { exec } }, vm: { service: { get } } },
    };
    render(<App />);
    await screen.findByRole("table", { name: "Host facts" });
    expect(fact("Operating system")).toBe("Windows (windows)");
    await screen.findByRole("table", { name: "VM facts" });
    expect(fact("CPU architecture", "VM facts")).toBe("amd64 (x86_64)");
    expect(get.mock.calls).toEqual([["/facts"]]);
    await userEvent.type(screen.getByLabelText("TCP ports"), "445{enter}");
    await screen.findByText("access denied");
    expect(exec.mock.calls).toEqual([
      ["host-bin.exe", ["info"]],
      ["host-bin.exe", ["port-check", "445"]],
    ]);
  });

  const checkButtonColour = async () => {
    render(<App api={fakeApi()} vm={fakeVm()} />);
    await screen.findByRole("table", { name: "Host facts" });
    return getComputedStyle(screen.getByRole("button", { name: "Check" })).backgroundColor.replace(/\s/g, "");
  };

  it("uses Docker Desktop's theme when Docker Desktop provides it", async () => {
    window.__ddMuiV6Themes = {
      light: { palette: { primary: { main: "#1d63ed" } } },
      dark: { palette: { mode: "dark", primary: { main: "#1d63ed" } } },
    };
    expect(await checkButtonColour()).toMatch(/#1d63ed|rgb\(29,99,237\)/i);
  });

  it("falls back to MUI's own theme elsewhere", async () => {
    expect(await checkButtonColour()).toMatch(/#1976d2|rgb\(25,118,210\)/i);
  });
});
