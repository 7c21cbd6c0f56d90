// Times ONNX Runtime (onnxruntime-node) on one model for bench/compare_onnxruntime.py.
// argv: ORT_DIR MODEL THREADS REPS OUT_BIN INPUT_NAME=SHAPE=FILE ...
//   ORT_DIR: the folder whose node_modules holds onnxruntime-node; SHAPE: dims joined by 'x';
//   FILE: raw little-endian float32. Runs once to warm up, then REPS times; prints one JSON line
//   {"best_ms": …, "provider": "cpu"} and writes the first output's values to OUT_BIN.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [ortDir, model, threads, reps, outBin, ...inputs] = process.argv.slice(2);
  const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const spec of inputs) {
    const [name, shape, file] = spec.split('=');
    const buf = fs.readFileSync(file);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    feeds[name] = new ort.Tensor('float32', data, shape.split('x').map(Number));
  }
  let result = await session.run(feeds);  // warm-up
  let best = Infinity;
  for (let r = 0; r < Number(reps); ++r) {
    const t0 = process.hrtime.bigint();
    result = await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    best = Math.min(best, ms);
  }
  const out = result[session.outputNames[0]];
  fs.writeFileSync(outBin, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(JSON.stringify({best_ms: best, provider: 'cpu'}));
}

main().catch((e) => {
  console.error(`ort_time.js: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
