import type { Command } from "commander";
import type { CliIo } from "../io.js";
import { registerDr } from "./dr.js";
import { registerEvidence } from "./evidence.js";
import { registerDemo } from "./demo.js";
import { registerDeploy } from "./deploy.js";
import { registerKeys } from "./keys.js";
import { registerLock } from "./lock.js";
import { registerPromote } from "./promote.js";
import { registerLoadtest } from "./loadtest.js";
import { registerPreview } from "./preview.js";
import { registerPushgateway } from "./pushgateway.js";
import { registerRollback } from "./rollback.js";
import { registerSnapshot } from "./snapshot.js";

import type { SetExitCode } from "../io.js";

export type { SetExitCode };

/** Each command module exports one `register` function; list it here. */
export function registerCommands(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  void program;
  void io;
  void setExitCode;
  // In the order a user meets them (goose --help lists them so): try, check, deploy, keep, test,
  // move, undo, recover; then the operations' plumbing.
  registerDemo(program, io, setExitCode);
  registerPreview(program, io, setExitCode);
  registerDeploy(program, io, setExitCode);
  registerSnapshot(program, io, setExitCode);
  registerLoadtest(program, io, setExitCode);
  registerPromote(program, io, setExitCode);
  registerRollback(program, io, setExitCode);
  registerDr(program, io, setExitCode);
  registerLock(program, io, setExitCode);
  registerEvidence(program, io, setExitCode);
  registerKeys(program, io, setExitCode);
  registerPushgateway(program, io, setExitCode);
}
