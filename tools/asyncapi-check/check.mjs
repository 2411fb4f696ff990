// Parse an AsyncAPI document with @asyncapi/parser and print its error diagnostics.
// Usage: node tools/asyncapi-check/check.mjs docs/asyncapi.json
// Exit status: 0 without errors, 1 with errors, 2 on bad usage.
import { readFile } from "node:fs/promises";
import { DiagnosticSeverity, Parser } from "@asyncapi/parser";

const [path] = process.argv.slice(2);
if (!path) {
  console.error("usage: node check.mjs <asyncapi document>");
  process.exit(2);
}

const { diagnostics } = await new Parser().parse(await readFile(path, "utf8"), { source: path });
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
for (const d of errors) {
  console.log(`error ${d.code} at /${d.path.join("/")}: ${d.message}`);
}
console.log(`${errors.length} error(s) in ${path}`);
process.exit(errors.length ? 1 : 0);
