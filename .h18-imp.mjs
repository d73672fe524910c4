import module from "node:module";
module.enableCompileCache();
const req = module.createRequire(import.meta.url);
const mode = process.argv[2];
for (const p of ["@pulumi/pulumi", "@pulumi/kubernetes", "@pulumi/aws", "@pulumi/random", "yaml", "zod", "ajv"]) {
  const c = process.cpuUsage();
  if (mode === "esm") await import(p); else req(p);
  const d = process.cpuUsage(c);
  process.stdout.write(`${p} ${((d.user + d.system) / 1000).toFixed(0)}  `);
}
console.log(mode);
