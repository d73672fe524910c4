import { spawnSync } from "node:child_process";

/** A bcrypt hash of `password`, by the system's crypt(3) (libxcrypt) through Python. */
export function bcrypt(password: string): string {
  const r = spawnSync(
    "python3",
    [
      "-W",
      "ignore",
      "-c",
      "import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))",
    ],
    { input: password, encoding: "utf8" },
  );
  const hash = r.stdout.trim();
  if (r.status !== 0 || !hash.startsWith("$2"))
    throw new Error(
      `python3 with the crypt module (bcrypt via libxcrypt) is needed: apt-get install -y python3 (${r.stderr})`,
    );
  return hash;
}
