import type { HostInfo } from "../api";
import { OS_NAMES } from "../compare";
import type { Load } from "../useLoad";
import { FactsTable } from "./FactsTable";
import { Loading, Panel } from "./Panel";
import { ProblemAlert } from "./ProblemAlert";

/** "Your machine": what the host binary reports, or why it could not. */
export function HostFacts({ state, onRetry }: { state: Load<HostInfo>; onRetry: () => void }) {
  return (
    <Panel id="host-facts-heading" title="Your machine">
      {state.status === "loading" && <Loading>Asking the host for its facts…</Loading>}
      {state.status === "error" && <ProblemAlert problem={state.problem} onRetry={onRetry} />}
      {state.status === "ok" && <FactsTable label="Host facts" rows={hostRows(state.value)} />}
    </Panel>
  );
}

function hostRows(info: HostInfo): [string, string][] {
  return [
    ["Operating system", `${OS_NAMES[info.os] ?? info.os} (${info.family})`],
    ["CPU architecture", info.arch],
    ["Host name", info.hostname],
    ["CPUs", String(info.cpus)],
    ["Extension version", info.version],
  ];
}
