// Proves that a spec change which breaks the typed client fails the typecheck: copies the spec with the
// `next_cursor` property of ProductPage renamed, generates types from the copy into a scratch directory next to
// a copy of src/*.ts, and asserts that tsc fails there (and names next_cursor). The real spec and src/ are untouched.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const scratch = join(root, ".scratch-breaking");
const bin = (name) => join(root, "node_modules", ".bin", name);

const spec = readFileSync(join(root, "..", "..", "openapi", "openapi.yaml"), "utf8");
const from = "\n        next_cursor:\n          type: string\n";
const parts = spec.split(from);
if (parts.length !== 2) {
  console.error(`check-breaking: expected exactly one ProductPage.next_cursor property in the spec, found ${parts.length - 1}`);
  process.exit(1);
}

rmSync(scratch, { recursive: true, force: true });
try {
  mkdirSync(join(scratch, "src"), { recursive: true });
  writeFileSync(join(scratch, "openapi.yaml"), parts.join("\n        next_page_token:\n          type: string\n"));
  for (const file of ["client.ts", "example.ts"]) cpSync(join(root, "src", file), join(scratch, "src", file));
  cpSync(join(root, "tsconfig.json"), join(scratch, "tsconfig.json"));
  execFileSync(bin("openapi-typescript"), [join(scratch, "openapi.yaml"), "-o", join(scratch, "src", "schema.d.ts")], {
    stdio: "ignore",
  });

  let output = "";
  let failed = false;
  try {
    execFileSync(bin("tsc"), ["--noEmit", "-p", "."], { cwd: scratch, encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    failed = true;
    output = `${err.stdout ?? ""}${err.stderr ?? ""}`;
  }
  if (!failed) {
    console.error("check-breaking: tsc accepted a spec without ProductPage.next_cursor; the typed client does not catch breaking changes");
    process.exit(1);
  }
  if (!output.includes("next_cursor")) {
    console.error(`check-breaking: tsc failed, but not on next_cursor:\n${output}`);
    process.exit(1);
  }
  console.log("check-breaking: renaming ProductPage.next_cursor in a copy of the spec fails the typecheck, as it should:");
  console.log(output.trim().replaceAll(`${scratch}/`, "").split("\n").map((line) => `  ${line}`).join("\n"));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
