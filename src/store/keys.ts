/**
 * Store keys are `/`-separated relative paths made of plain segments: no empty segment, no
 * `.` or `..`, no backslash, no NUL, and no segment starting with `.goose-` (the adapters'
 * own temp, lock and probe files).
 */
export function validateKey(key: string): void {
  const bad = (why: string): never => {
    throw new Error(`invalid store key "${key}": ${why}`);
  };
  if (key.length === 0) bad("it is empty");
  if (key.includes("\\") || key.includes("\0")) bad("it contains a backslash or NUL");
  for (const seg of key.split("/")) {
    if (seg === "") bad("it has an empty segment (leading, trailing or double '/')");
    if (seg === "." || seg === "..") bad("'.' and '..' segments are not allowed");
    if (seg.startsWith(".goose-")) bad("segments starting with '.goose-' are reserved");
  }
}
