import { useCallback, useEffect, useRef, useState } from "react";

import { describe, type Problem } from "./errors";

export type Load<T> = { status: "loading" } | { status: "ok"; value: T } | { status: "error"; problem: Problem };

/** Runs `fetch` on mount and on `reload()`; only the latest run may update the state. */
export function useLoad<T>(fetch: () => Promise<T>): [Load<T>, () => void] {
  const [state, setState] = useState<Load<T>>({ status: "loading" });
  const generation = useRef(0);

  const reload = useCallback(() => {
    // Retries, unmounts and StrictMode's double effects must not let a stale answer win.
    const mine = ++generation.current;
    setState({ status: "loading" });
    fetch().then(
      (value) => mine === generation.current && setState({ status: "ok", value }),
      (e) => mine === generation.current && setState({ status: "error", problem: describe(e) }),
    );
  }, [fetch]);

  useEffect(() => {
    reload();
    return () => {
      generation.current++;
    };
  }, [reload]);

  return [state, reload];
}
