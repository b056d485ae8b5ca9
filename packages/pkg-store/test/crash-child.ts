// Run by crash.test.ts in a child process: installs a bundle and kills itself with SIGKILL at the
// given crash point, so nothing after it runs (no finally, no exit handlers).
import { readFile } from "node:fs/promises";
import { openBundleStore } from "@aria/pkg-store";

const [dataDir, bundlePath, point] = process.argv.slice(2) as [
  string,
  string,
  "afterBlobWrite" | "afterUnpack",
];
const die = () => {
  process.kill(process.pid, "SIGKILL");
};
const store = await openBundleStore({ dataDir, faults: { [point]: die } });
await store.install(await readFile(bundlePath));
process.stdout.write("installed without crashing\n");
