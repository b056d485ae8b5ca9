import { ariaProject } from "../../tooling/vitest/shared.ts";

export default ariaProject();
