import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { App } from "./App";
import type { HostApi, HostInfo } from "./api";
import { HostCallError, type ExecOutput } from "./hostBin";

const INFO: HostInfo = { arch: "aarch64", cpus: 8, family: "unix", hostname: "build-mac", os: "macos", version: "0.1.0" };

function fakeApi(over: Partial<HostApi> = {}): HostApi {
  return {
    info: vi.fn(() => Promise.resolve(INFO)),
    portCheck: vi.fn((ports: number[]) => Promise.resolve(ports.map((port) => ({ port, free: port % 2 === 0 })))),
    ...over,
  };
}

function fact(label: string): string {
  const row = screen.getByRole("rowheader", { name: label }).closest("tr")!;
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
    render(<App api={fakeApi()} />);
    expect(screen.getByRole("status").textContent).toMatch(/Asking the host/);
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
    render(<App api={fakeApi({ info })} />);
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
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Docker Desktop is not available");
    expect(screen.getByRole("heading", { name: "Host Facts" })).toBeTruthy();
  });
});

describe("port checker", () => {
  it("checks the ports typed and shows which are free", async () => {
    const api = fakeApi();
    render(<App api={api} />);
    await userEvent.type(screen.getByLabelText("TCP ports"), "8080, 5433");
    await userEvent.click(screen.getByRole("button", { name: "Check" }));
    const table = await screen.findByRole("table", { name: "Port check results" });
    expect(api.portCheck).toHaveBeenCalledWith([8080, 5433]);
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.textContent)).toEqual(["8080freeCan be bound on 0.0.0.0", "5433in useCannot be bound"]);
  });

  it("explains bad input without calling the host", async () => {
    const api = fakeApi();
    render(<App api={api} />);
    await userEvent.type(screen.getByLabelText("TCP ports"), "http{enter}");
    expect(await screen.findByText("'http' is not a TCP port: use whole numbers from 1 to 65535.")).toBeTruthy();
    expect(api.portCheck).not.toHaveBeenCalled();
  });

  it("shows a failed check as an alert", async () => {
    const portCheck = vi.fn(() =>
      Promise.reject(new HostCallError("timeout", "host-bin port-check 80 timed out", "did not finish within 10 s.")),
    );
    render(<App api={fakeApi({ portCheck })} />);
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
    window.ddClient = { host: { platform: "win32" }, extension: { host: { cli: { exec } } } };
    render(<App />);
    await screen.findByRole("table", { name: "Host facts" });
    expect(fact("Operating system")).toBe("Windows (windows)");
    await userEvent.type(screen.getByLabelText("TCP ports"), "445{enter}");
    await screen.findByText("access denied");
    expect(exec.mock.calls).toEqual([
      ["host-bin.exe", ["info"]],
      ["host-bin.exe", ["port-check", "445"]],
    ]);
  });

  const checkButtonColour = async () => {
    render(<App api={fakeApi()} />);
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
