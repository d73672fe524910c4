/**
 * Colour for human output, decided once per stream (docs/output.md, "Colour"):
 *   1. `--no-color` turns it off;
 *   2. else `NO_COLOR` set to any non-empty value turns it off (https://no-color.org);
 *   3. else `FORCE_COLOR` set to anything but `""`, `0` or `false` turns it on (CI logs that render ANSI);
 *   4. else `TERM=dumb` turns it off;
 *   5. else colour when the stream is a terminal.
 * JSON documents are never coloured, and what goes to a pipe or file is plain unless forced.
 * The escapes come from node:util `styleText` (no dependency).
 */
import { styleText } from "node:util";

export type StyleName = "red" | "green" | "yellow" | "cyan" | "bold" | "dim";

/** Paints text for one stream; the identity when that stream gets no colour. */
export interface Painter {
  readonly enabled: boolean;
  (style: StyleName, text: string): string;
}

/** Should a stream get colour? `noColorFlag`: `--no-color` was given. */
export function colourEnabled(opts: {
  env: NodeJS.ProcessEnv;
  isTty: boolean;
  noColorFlag?: boolean;
}): boolean {
  if (opts.noColorFlag) return false;
  if (opts.env.NO_COLOR) return false;
  const force = opts.env.FORCE_COLOR;
  if (force !== undefined && force !== "") return force !== "0" && force !== "false";
  if (opts.env.TERM === "dumb") return false;
  return opts.isTty;
}

export function painter(enabled: boolean): Painter {
  const paint = (style: StyleName, text: string): string =>
    enabled && text !== "" ? styleText(style, text, { validateStream: false }) : text;
  return Object.assign(paint, { enabled });
}

/** A painter that never colours (tests, JSON, the default of a CliIo without colour settings). */
export const PLAIN: Painter = painter(false);

/** The colour of a verdict or status word: pass/ok green, warn/skipped yellow, fail red. */
export function verdictStyle(word: string): StyleName | undefined {
  const w = word.trim().toLowerCase();
  if (/^(pass|passed|ok|valid|verified|promoted|done|rolled back)$/.test(w)) return "green";
  if (/^(warn|warned|warning|skipped|advisory|stale)$/.test(w)) return "yellow";
  if (/^(fail|failed|error|invalid|blocked|mandatory|tampered|aborted)$/.test(w)) return "red";
  if (/^(running|started)$/.test(w)) return "cyan";
  return undefined;
}

/** `word` painted in its verdict colour (bold for failures), or as it is. */
export function paintVerdict(paint: Painter, word: string): string {
  const style = verdictStyle(word);
  if (!style) return word;
  return style === "red" ? paint("bold", paint("red", word)) : paint(style, word);
}
