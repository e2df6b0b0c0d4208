import { useCallback } from "react";
import Alert from "@mui/material/Alert";
import AlertTitle from "@mui/material/AlertTitle";
import Stack from "@mui/material/Stack";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";

import type { HostApi, HostInfo } from "../api";
import { differences } from "../compare";
import { useLoad } from "../useLoad";
import type { VmApi, VmFacts as Facts } from "../vmService";
import { HostFacts } from "./HostFacts";
import { VmFacts } from "./VmFacts";

/**
 * The user's machine beside Docker Desktop's VM, each loaded on its own (one failing does not
 * hide the other), and what differs between them once both have answered.
 */
export function Machines({ host, vm }: { host: HostApi; vm: VmApi }) {
  const [hostState, reloadHost] = useLoad(useCallback(() => host.info(), [host]));
  const [vmState, reloadVm] = useLoad(useCallback(() => vm.facts(), [vm]));
  return (
    <Stack spacing={2}>
      <Stack direction={{ xs: "column", sm: "row" }} spacing={2} alignItems="stretch">
        <HostFacts state={hostState} onRetry={reloadHost} />
        <VmFacts state={vmState} onRetry={reloadVm} />
      </Stack>
      {hostState.status === "ok" && vmState.status === "ok" && (
        <Differences host={hostState.value} vm={vmState.value} />
      )}
    </Stack>
  );
}

function Differences({ host, vm }: { host: HostInfo; vm: Facts }) {
  const found = differences(host, vm);
  if (!found.length) {
    return (
      <Alert severity="success" role="note" aria-label="Differences">
        Your machine and Docker Desktop's VM report the same OS family, CPU architecture and CPU count.
      </Alert>
    );
  }
  return (
    <Alert severity="info" role="note" aria-label="Differences" sx={{ "& .MuiAlert-message": { width: "100%" } }}>
      <AlertTitle>What differs between your machine and the VM</AlertTitle>
      <Table size="small" aria-label="What differs">
        <TableHead>
          <TableRow>
            <TableCell>Fact</TableCell>
            <TableCell>Your machine</TableCell>
            <TableCell>Docker Desktop's VM</TableCell>
            <TableCell>What it means</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {found.map((d) => (
            <TableRow key={d.fact} data-fact={d.fact}>
              <TableCell component="th" scope="row">
                {d.fact}
              </TableCell>
              <TableCell>{d.host}</TableCell>
              <TableCell>{d.vm}</TableCell>
              <TableCell>{d.meaning}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Alert>
  );
}
