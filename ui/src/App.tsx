import { useMemo } from "react";
import Container from "@mui/material/Container";
import CssBaseline from "@mui/material/CssBaseline";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";

import { hostApi, type HostApi } from "./api";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Machines } from "./components/Machines";
import { PortChecker } from "./components/PortChecker";
import { Theme } from "./theme";
import { vmApi, type VmApi } from "./vmService";

export function App({ api, vm }: { api?: HostApi; vm?: VmApi }) {
  const hostCalls = useMemo(() => api ?? hostApi(), [api]);
  const vmCalls = useMemo(() => vm ?? vmApi(), [vm]);
  // The outer boundary catches a failing theme; the inner ones keep one card's bug from
  // taking the other card down.
  return (
    <ErrorBoundary>
      <Theme>
      <CssBaseline />
      <Container maxWidth="lg" sx={{ py: 3 }}>
        <Typography variant="h4" component="h1" gutterBottom>
          Host Facts
        </Typography>
        <Typography variant="body1" color="text.secondary" sx={{ mb: 3 }}>
          The machine running Docker Desktop, as this extension's host binary sees it, beside the VM
          your containers run in, as this extension's service in that VM sees it.
        </Typography>
        <Stack spacing={4}>
          <ErrorBoundary>
            <Machines host={hostCalls} vm={vmCalls} />
          </ErrorBoundary>
          <ErrorBoundary>
            <PortChecker api={hostCalls} />
          </ErrorBoundary>
        </Stack>
      </Container>
      </Theme>
    </ErrorBoundary>
  );
}
