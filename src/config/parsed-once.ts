/**
 * Data files parsed and validated once per process: goose loads the same file several times while
 * it renders (compliance-rules.yaml twice per stage, metric-levels.yaml once per prometheus.yml).
 */

/**
 * A cache of one kind of parse result, keyed by the file's name and text, holding at most `limit`
 * results (it starts over beyond). `make` runs on a miss; what it throws is thrown and nothing is
 * kept. The result is shared between callers: copy what a caller may change.
 */
export function parsedOnce<T>(limit: number): (file: string, text: string, make: () => T) => T {
  const results = new Map<string, T>();
  return (file, text, make) => {
    const key = `${file}\0${text}`;
    if (results.has(key)) return results.get(key)!;
    const result = make();
    if (results.size >= limit) results.clear();
    results.set(key, result);
    return result;
  };
}
