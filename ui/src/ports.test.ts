import { describe, expect, it } from "vitest";

import { MAX_PORTS, parsePorts } from "./ports";

describe("parsePorts", () => {
  it("splits on spaces and commas, keeping order and dropping repeats", () => {
    expect(parsePorts(" 8080, 5432 80,,8080 ")).toEqual({ ok: true, ports: [8080, 5432, 80] });
  });

  it.each(["", "   ", ","])("asks for a port when given %j", (input) => {
    expect(parsePorts(input)).toEqual({ ok: false, error: "Enter at least one TCP port, e.g. 8080." });
  });

  it.each(["0", "65536", "80a", "-1", "8.5", "1e3"])("rejects %j", (word) => {
    expect(parsePorts(`80 ${word}`)).toEqual({
      ok: false,
      error: `'${word}' is not a TCP port: use whole numbers from 1 to 65535.`,
    });
  });

  it("caps how many ports one check takes", () => {
    const many = Array.from({ length: MAX_PORTS + 1 }, (_, i) => 1000 + i).join(" ");
    expect(parsePorts(many)).toMatchObject({ ok: false, error: expect.stringContaining(`at most ${MAX_PORTS}`) });
  });
});
