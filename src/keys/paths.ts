/**
 * Where goose keeps its keys on a workstation: the config directory `$XDG_CONFIG_HOME/goose`, else
 * `$HOME/.config/goose`. Only the given environment is read (no os.homedir() fallback), so code
 * called with a bare test environment never picks up a developer's real keys.
 */
import path from "node:path";

/** `$XDG_CONFIG_HOME/goose` or `$HOME/.config/goose`; undefined when neither variable is set. */
export function configDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_CONFIG_HOME) return path.join(env.XDG_CONFIG_HOME, "goose");
  if (env.HOME) return path.join(env.HOME, ".config", "goose");
  return undefined;
}

/** The snapshot key file: GOOSE_SNAPSHOT_KEY_FILE, else `<config dir>/snapshot.key`. */
export function snapshotKeyFile(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GOOSE_SNAPSHOT_KEY_FILE) return path.resolve(env.GOOSE_SNAPSHOT_KEY_FILE);
  const dir = configDir(env);
  return dir === undefined ? undefined : path.join(dir, "snapshot.key");
}
