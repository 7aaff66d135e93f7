// Parse each Mermaid file named on the command line with Mermaid's own parser.
// Prints "OK <file>" or "FAIL <file> <error>" per file; exits 1 when any fails.
// Needs the `mermaid` and `jsdom` npm packages in a node_modules beside this script.
import fs from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const mermaid = (await import('mermaid')).default;
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    await mermaid.parse(fs.readFileSync(file, 'utf8'));
    console.log(`OK ${file}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${file} ${String(error.message || error).replace(/\s+/g, ' ').slice(0, 400)}`);
  }
}
process.exit(failed ? 1 : 0);
