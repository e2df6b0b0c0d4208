import { useMemo } from "react";
import Container from "@mui/material/Container";
import CssBaseline from "@mui/material/CssBaseline";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";

import { hostApi, type HostApi } from "./api";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { HostFacts } from "./components/HostFacts";
import { PortChecker } from "./components/PortChecker";
import { Theme } from "./theme";

export function App({ api }: { api?: HostApi }) {
  const hostCalls = useMemo(() => api ?? hostApi(), [api]);
  // The outer boundary catches a failing theme; the inner ones keep one card's bug from
  // taking the other card down.
  return (
    <ErrorBoundary>
      <Theme>
      <CssBaseline />
      <Container maxWidth="md" sx={{ py: 3 }}>
        <Typography variant="h4" component="h1" gutterBottom>
          Host Facts
        </Typography>
        <Typography variant="body1" color="text.secondary" sx={{ mb: 3 }}>
          What the machine running Docker Desktop reports about itself, as seen by this extension's
          host binary.
        </Typography>
        <Stack spacing={4}>
          <ErrorBoundary>
            <HostFacts api={hostCalls} />
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
