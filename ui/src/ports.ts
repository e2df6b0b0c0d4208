// Parsing what a person types into the port checker.

/** host-bin takes every port as an argument; keep the command line and the table readable. */
export const MAX_PORTS = 32;

export type ParsedPorts = { ok: true; ports: number[] } | { ok: false; error: string };

/** "8080, 5432 80" -> [8080, 5432, 80]; duplicates dropped, order kept. */
export function parsePorts(input: string): ParsedPorts {
  const words = input.split(/[\s,]+/).filter(Boolean);
  if (words.length === 0) return { ok: false, error: "Enter at least one TCP port, e.g. 8080." };
  const ports: number[] = [];
  for (const w of words) {
    const n = /^\d+$/.test(w) ? Number(w) : NaN;
    if (!(n >= 1 && n <= 65535)) {
      return { ok: false, error: `'${w}' is not a TCP port: use whole numbers from 1 to 65535.` };
    }
    if (!ports.includes(n)) ports.push(n);
  }
  if (ports.length > MAX_PORTS) {
    return { ok: false, error: `Check at most ${MAX_PORTS} ports at a time (got ${ports.length}).` };
  }
  return { ok: true, ports };
}
