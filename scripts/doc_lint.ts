/**
 * The library's documentation lint, as `deno task ok` and CI run it:
 * `deno doc --lint` over every `deno.json` entry point (and
 * `src/metrics/mod.ts`), failing on every problem except a reference to a
 * type of an npm package, which Deno reports as private although it is that
 * package's public API (denoland/deno#27364). Those are listed by name
 * below; anything else, including a new npm type, fails.
 *
 * ```
 * npx -y deno@2.9.6 run -A scripts/doc_lint.ts
 * ```
 *
 * @module
 */

/** npm types our public signatures use: zod (config readers), Hono (the recorder app), the AWS SDK (S3 storage), @peculiar/x509 (dev cluster CA). */
const NPM_TYPES = new Set([
  "ZodTypeAny",
  "output",
  "Hono",
  "S3Client",
  "X509Certificate",
]);

const root = new URL("../", import.meta.url);
const config = JSON.parse(
  await Deno.readTextFile(new URL("deno.json", root)),
) as { exports: Record<string, string> };
const entries = [...Object.values(config.exports), "./src/metrics/mod.ts"];
const out = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...entries],
  cwd: root,
  stdout: "piped",
  stderr: "piped",
  env: { NO_COLOR: "1" },
}).output();
const text = new TextDecoder().decode(out.stdout) +
  new TextDecoder().decode(out.stderr);
const problems = text.split(/\n(?=error\[)/).filter((b) =>
  b.startsWith("error[")
);
const left = problems.filter((p) => {
  const m = p.match(
    /^error\[private-type-ref\]: .* references private type '([^']+)'/,
  );
  return !(m && NPM_TYPES.has(m[1]!));
});
if (!out.success && problems.length === 0) {
  console.error(text);
  console.error("doc lint: deno doc failed");
  Deno.exit(1);
}
for (const p of left) console.error(p.trim() + "\n");
if (left.length > 0) {
  console.error(`doc lint: ${left.length} problem(s)`);
  Deno.exit(1);
}
console.log(
  `doc lint: clean (${problems.length} references to npm packages' types allowed)`,
);
