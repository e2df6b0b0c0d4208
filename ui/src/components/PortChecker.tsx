import { useEffect, useRef, useState, type FormEvent } from "react";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Chip from "@mui/material/Chip";
import Stack from "@mui/material/Stack";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";

import type { HostApi, PortStatus } from "../api";
import { describe, type Problem } from "../errors";
import { parsePorts } from "../ports";
import { ProblemAlert } from "./ProblemAlert";

type State =
  | { status: "idle" }
  | { status: "checking" }
  | { status: "ok"; ports: PortStatus[] }
  | { status: "error"; problem: Problem };

export function PortChecker({ api }: { api: HostApi }) {
  const [input, setInput] = useState("");
  const [inputError, setInputError] = useState<string | null>(null);
  const [state, setState] = useState<State>({ status: "idle" });
  const generation = useRef(0);
  useEffect(
    () => () => {
      generation.current++;
    },
    [],
  );

  const check = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parsePorts(input);
    if (!parsed.ok) {
      setInputError(parsed.error);
      return;
    }
    setInputError(null);
    const mine = ++generation.current;
    setState({ status: "checking" });
    api.portCheck(parsed.ports).then(
      (ports) => mine === generation.current && setState({ status: "ok", ports }),
      (e) => mine === generation.current && setState({ status: "error", problem: describe(e) }),
    );
  };

  return (
    <Box component="section" aria-labelledby="port-checker-heading">
      <Typography id="port-checker-heading" variant="h6" component="h2" gutterBottom>
        Port checker
      </Typography>
      <Typography variant="body2" color="text.secondary" gutterBottom>
        See which TCP ports are free on the host before you publish a container on them.
      </Typography>
      <Stack component="form" direction="row" spacing={2} alignItems="flex-start" onSubmit={check} noValidate>
        <TextField
          label="TCP ports"
          value={input}
          onChange={(e) => setInput(e.target.value)}
          error={inputError !== null}
          helperText={inputError ?? "One or more ports, separated by spaces or commas, e.g. 8080 5432"}
          size="small"
          sx={{ minWidth: 320 }}
          slotProps={{ htmlInput: { inputMode: "numeric" } }}
        />
        <Button type="submit" variant="contained" disabled={state.status === "checking"}>
          {state.status === "checking" ? "Checking…" : "Check"}
        </Button>
      </Stack>
      <Box sx={{ mt: 2 }}>
        {state.status === "error" && <ProblemAlert problem={state.problem} />}
        {state.status === "ok" && <Results ports={state.ports} />}
      </Box>
    </Box>
  );
}

function Results({ ports }: { ports: PortStatus[] }) {
  return (
    <Table size="small" aria-label="Port check results" sx={{ maxWidth: 640 }}>
      <TableHead>
        <TableRow>
          <TableCell>Port</TableCell>
          <TableCell>Status</TableCell>
          <TableCell>Details</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {ports.map((p) => (
          <TableRow key={p.port} data-port={p.port}>
            <TableCell component="th" scope="row">
              {p.port}
            </TableCell>
            <TableCell>
              <Chip size="small" label={p.free ? "free" : "in use"} color={p.free ? "success" : "error"} />
            </TableCell>
            <TableCell>{p.free ? "Can be bound on 0.0.0.0" : p.reason ?? "Cannot be bound"}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
