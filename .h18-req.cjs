require("node:module").enableCompileCache();
const parts = process.argv.slice(2);
for (const p of parts) { const c = process.cpuUsage(); require(p); const d = process.cpuUsage(c); process.stdout.write(`${p} ${((d.user + d.system) / 1000).toFixed(0)}  `); }
console.log(Object.keys(require.cache).filter(k => /typescript|arborist|automation\/index/.test(k)).length, "heavy files");
