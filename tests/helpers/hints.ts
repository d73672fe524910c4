/** The `goose …` commands between backticks in `text`, as argv (single quotes honoured). */
export function harvest(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(/`((?:npx )?goose [^`]+)`/g)) {
    const words: string[] = [];
    for (const w of m[1]!.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) {
      words.push(w[1] !== undefined ? w[1].replace(/'\\''/g, "'") : w[2]!);
    }
    if (words[0] === "npx") words.shift();
    out.push(words.slice(1));
  }
  return out;
}
