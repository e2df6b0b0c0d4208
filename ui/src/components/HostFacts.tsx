import { useCallback, useEffect, useRef, useState } from "react";
import Box from "@mui/material/Box";
import CircularProgress from "@mui/material/CircularProgress";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";

import type { HostApi, HostInfo } from "../api";
import { describe, type Problem } from "../errors";
import { ProblemAlert } from "./ProblemAlert";

type State = { status: "loading" } | { status: "ok"; info: HostInfo } | { status: "error"; problem: Problem };

const OS_NAMES: Record<string, string> = { linux: "Linux", macos: "macOS", windows: "Windows" };

export function HostFacts({ api }: { api: HostApi }) {
  const [state, setState] = useState<State>({ status: "loading" });
  const generation = useRef(0);

  const load = useCallback(() => {
    // Only the latest request may update the view (retries, unmounts, StrictMode re-runs).
    const mine = ++generation.current;
    setState({ status: "loading" });
    api.info().then(
      (info) => mine === generation.current && setState({ status: "ok", info }),
      (e) => mine === generation.current && setState({ status: "error", problem: describe(e) }),
    );
  }, [api]);

  useEffect(() => {
    load();
    return () => {
      generation.current++;
    };
  }, [load]);

  return (
    <Box component="section" aria-labelledby="host-facts-heading">
      <Typography id="host-facts-heading" variant="h6" component="h2" gutterBottom>
        Host
      </Typography>
      {state.status === "loading" && (
        <Box role="status" sx={{ display: "flex", alignItems: "center", gap: 1 }}>
          <CircularProgress size={20} />
          <Typography>Asking the host for its facts…</Typography>
        </Box>
      )}
      {state.status === "error" && <ProblemAlert problem={state.problem} onRetry={load} />}
      {state.status === "ok" && <FactsTable info={state.info} />}
    </Box>
  );
}

function FactsTable({ info }: { info: HostInfo }) {
  const rows: [string, string][] = [
    ["Operating system", `${OS_NAMES[info.os] ?? info.os} (${info.family})`],
    ["CPU architecture", info.arch],
    ["Host name", info.hostname],
    ["CPUs", String(info.cpus)],
    ["Extension version", info.version],
  ];
  return (
    <Table size="small" aria-label="Host facts" sx={{ maxWidth: 640 }}>
      <TableBody>
        {rows.map(([label, value]) => (
          <TableRow key={label}>
            <TableCell component="th" scope="row" sx={{ width: "40%" }}>
              {label}
            </TableCell>
            <TableCell>{value}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
