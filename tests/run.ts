/**
 * The whole suite: every bun:test file under tests/ (unit, property, integration, differential,
 * simulator), then one closing line `N passed, N failed, N skipped`. Exit 1 on any failure.
 */
import { spawnSync } from "node:child_process";

const bun = process.execPath;
const args = [
  "test",
  "--timeout",
  "120000",
  ...(process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["tests/"]),
];
const r = spawnSync(bun, args, {
  stdio: ["ignore", "inherit", "pipe"],
  encoding: "utf8",
  maxBuffer: 1 << 28,
});
process.stderr.write(r.stderr ?? "");
const out = r.stderr ?? "";
const count = (word: string) => {
  const m = new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(out);
  return m === null ? 0 : Number(m[1]);
};
const passed = count("pass"), failed = count("fail"), skipped = count("skip") + count("todo");
const ranNothing = passed + failed + skipped === 0;
console.log(
  `${passed} passed, ${
    failed + (ranNothing || r.status !== 0 && failed === 0 ? 1 : 0)
  } failed, ${skipped} skipped`,
);
process.exit(r.status === 0 && !ranNothing ? 0 : 1);
