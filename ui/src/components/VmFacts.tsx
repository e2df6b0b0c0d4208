import { formatBytes, formatUptime } from "../compare";
import type { Load } from "../useLoad";
import type { VmFacts as Facts } from "../vmService";
import { FactsTable } from "./FactsTable";
import { Loading, Panel } from "./Panel";
import { ProblemAlert } from "./ProblemAlert";

/** "Docker Desktop's VM": what the extension's VM service reports, or why it could not. */
export function VmFacts({ state, onRetry }: { state: Load<Facts>; onRetry: () => void }) {
  return (
    <Panel id="vm-facts-heading" title="Docker Desktop's VM">
      {state.status === "loading" && <Loading>Asking the VM service for its facts…</Loading>}
      {state.status === "error" && <ProblemAlert problem={state.problem} onRetry={onRetry} />}
      {state.status === "ok" && <FactsTable label="VM facts" rows={vmRows(state.value)} />}
    </Panel>
  );
}

function vmRows(facts: Facts): [string, string][] {
  return [
    ["Operating system", facts.os],
    ["Kernel", facts.kernel],
    ["CPU architecture", `${facts.arch} (${facts.machine})`],
    ["CPUs", String(facts.cpus)],
    ["Memory", formatBytes(facts.memory_bytes)],
    ["Uptime", formatUptime(facts.uptime_seconds)],
    ["Service version", facts.version],
  ];
}
