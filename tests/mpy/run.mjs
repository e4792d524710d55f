// Runs the core test modules under real MicroPython (the WebAssembly port from npm).
//
//   node tests/mpy/run.mjs [--heap 96m] [--jobs 2] [-k SUBSTRING] [tests/core/test_x.py ...]
//
// With no files it runs every tests/core/test_*.py except the CPython-only ones (*_cpython.py).
// Each module runs in its own MicroPython instance, with firmware/, tests/core/ and tests/data/
// copied into the in-memory file system under /proj. Exit status 1 if any test failed.
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const modDir = process.env.MPY_WASM_DIR || path.join(here, "node_modules");
const { loadMicroPython } = await import(
  path.join(modDir, "@micropython/micropython-webassembly-pyscript/micropython.mjs")
);

let heap = 96 * 1024 * 1024, jobs = 2, filter = "", files = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--heap") {
    const v = argv[++i];
    heap = parseInt(v) * (v.endsWith("m") ? 1048576 : v.endsWith("k") ? 1024 : 1);
  } else if (a === "--jobs") jobs = parseInt(argv[++i]);
  else if (a === "-k") filter = argv[++i];
  else files.push(a);
}
if (files.length === 0) {
  files = fs.readdirSync(path.join(root, "tests", "core"))
    .filter((n) => n.startsWith("test_") && n.endsWith(".py") && !n.endsWith("_cpython.py"))
    .sort()
    .map((n) => path.join("tests", "core", n));
}

function copyIn(mp, host, guest) {
  const st = fs.statSync(host);
  if (st.isDirectory()) {
    try { mp.FS.mkdir(guest); } catch (e) {}
    for (const n of fs.readdirSync(host)) {
      if (n === "__pycache__" || n === "node_modules" || n.startsWith(".")) continue;
      if (/\.(c|so)$/.test(n)) continue; // Cython's output for CPython (setup.py)
      copyIn(mp, path.join(host, n), guest + "/" + n);
    }
  } else {
    mp.FS.writeFile(guest, fs.readFileSync(host));
  }
}

const harness = fs.readFileSync(path.join(here, "harness.py"), "utf8");

async function runModule(file) {
  const module = file.replace(/\.py$/, "").split(path.sep).join(".");
  let out = "";
  const mp = await loadMicroPython({
    heapsize: heap,
    stdout: (line) => { out += line + "\n"; },
    stderr: (line) => { out += line + "\n"; },
    linebuffer: true,
  });
  mp.FS.mkdir("/proj");
  mp.FS.mkdir("/proj/tests");
  copyIn(mp, path.join(root, "firmware"), "/proj/firmware");
  copyIn(mp, path.join(root, "tests", "__init__.py"), "/proj/tests/__init__.py");
  copyIn(mp, path.join(root, "tests", "core"), "/proj/tests/core");
  copyIn(mp, path.join(root, "tests", "data"), "/proj/tests/data");
  const started = Date.now();
  let crashed = null;
  try {
    mp.runPython(
      "import sys\nsys.path.insert(0, '/proj')\n" + harness +
      `\nrun(${JSON.stringify(module)}, ${JSON.stringify(filter)})\n`
    );
  } catch (e) {
    crashed = String(e.message || e);
  }
  const m = out.match(/^MPY-RESULT passed=(\d+) failed=(\d+) skipped=(\d+)$/m);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return { module, out, crashed, seconds,
           passed: m ? +m[1] : 0, failed: m ? +m[2] : 1, skipped: m ? +m[3] : 0 };
}

const queue = files.slice();
const results = [];
async function worker() {
  while (queue.length) {
    const r = await runModule(queue.shift());
    results.push(r);
    const status = r.crashed || r.failed ? "FAIL" : "ok";
    process.stdout.write(
      `${status.padEnd(4)} ${r.module}: ${r.passed} passed, ${r.failed} failed, ` +
      `${r.skipped} skipped (${r.seconds} s)\n`
    );
    if (r.crashed || r.failed) process.stdout.write(r.out + (r.crashed ? r.crashed + "\n" : ""));
  }
}
await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
const total = results.reduce((a, r) => a + r.passed, 0);
const failed = results.filter((r) => r.crashed || r.failed);
process.stdout.write(`MicroPython: ${total} tests passed in ${results.length} modules` +
  (failed.length ? `, ${failed.length} modules FAILED\n` : "\n"));
process.exit(failed.length || results.length === 0 ? 1 : 0);
