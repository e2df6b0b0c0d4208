import { Component, type ErrorInfo, type ReactNode } from "react";
import { ProblemAlert } from "./ProblemAlert";
import { describe } from "../errors";

/** A rendering bug shows a message instead of unmounting the whole page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  state: { error: unknown } = { error: undefined };

  static getDerivedStateFromError(error: unknown) {
    return { error: error ?? new Error("unknown error") };
  }

  componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error("Host Facts crashed", error, info.componentStack);
  }

  render() {
    if (this.state.error !== undefined) {
      const { message } = describe(this.state.error);
      return (
        <ProblemAlert
          problem={{ title: "The dashboard hit a bug", message: `${message} Reload the extension to try again.` }}
        />
      );
    }
    return this.props.children;
  }
}
