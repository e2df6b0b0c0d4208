import { HostCallError } from "./hostBin";

export interface Problem {
  title: string;
  message: string;
}

/** Any thrown value as a heading and a sentence for an Alert. */
export function describe(e: unknown): Problem {
  if (e instanceof HostCallError) return { title: e.title, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { title: "Unexpected error", message: message || "No details were given." };
}
