import { useMemo, type ReactNode } from "react";
import { DockerMuiV6ThemeProvider } from "@docker/docker-mui-theme";
import { createTheme, ThemeProvider } from "@mui/material/styles";
import useMediaQuery from "@mui/material/useMediaQuery";

/**
 * Docker Desktop's theme. Its provider reads the theme options Docker Desktop injects as
 * `window.__ddMuiV6Themes` and throws without them, so a page opened anywhere else (a browser,
 * `npm run dev`) gets plain MUI colours instead of a blank page.
 */
export function Theme({ children }: { children: ReactNode }) {
  if (typeof window !== "undefined" && window.__ddMuiV6Themes) {
    return <DockerMuiV6ThemeProvider>{children}</DockerMuiV6ThemeProvider>;
  }
  return <FallbackTheme>{children}</FallbackTheme>;
}

function FallbackTheme({ children }: { children: ReactNode }) {
  const dark = useMediaQuery("(prefers-color-scheme: dark)", { noSsr: true });
  const theme = useMemo(() => createTheme({ palette: { mode: dark ? "dark" : "light" } }), [dark]);
  return <ThemeProvider theme={theme}>{children}</ThemeProvider>;
}
