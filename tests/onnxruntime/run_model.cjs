// Runs an ONNX model in onnxruntime (the npm package onnxruntime-node) for
// the tests: the reference that qatlab's ONNX import and export are checked
// against. Usage:
//   node run_model.cjs ORT_DIR REQUEST.json
// ORT_DIR holds node_modules/onnxruntime-node. REQUEST.json:
//   { "model": PATH, "input_file": PATH (raw little-endian values),
//     "input_type": "float32" | "int8" | "uint8", "dims": [N, ...],
//     "output_file": PATH (the first output, raw float32),
//     "optimized_model": PATH (optional: onnxruntime writes the graph it
//       runs after its optimizations, for checking which operators it chose),
//     "optimization": "all" | "basic" | "disabled" (default "all") }
// Prints one JSON line: {"output_dims": [...], "output_type": "..."}.
// Exits 1 with the error on stderr.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [ortDir, requestPath] = process.argv.slice(2);
  const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  const request = JSON.parse(fs.readFileSync(requestPath, 'utf8'));
  const options = {
    graphOptimizationLevel: request.optimization || 'all',
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
  };
  if (request.optimized_model) options.optimizedModelFilePath = request.optimized_model;
  const session = await ort.InferenceSession.create(request.model, options);
  const raw = fs.readFileSync(request.input_file);
  const types = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array };
  const ArrayType = types[request.input_type || 'float32'];
  if (!ArrayType) throw new Error(`unknown input_type ${request.input_type}`);
  const values = new ArrayType(raw.buffer, raw.byteOffset, raw.byteLength / ArrayType.BYTES_PER_ELEMENT);
  const input = new ort.Tensor(request.input_type || 'float32', values, request.dims);
  const results = await session.run({ [session.inputNames[0]]: input });
  const output = results[session.outputNames[0]];
  const floats = Float32Array.from(output.data, Number);
  fs.writeFileSync(request.output_file, Buffer.from(floats.buffer));
  process.stdout.write(JSON.stringify({ output_dims: output.dims, output_type: output.type }) + '\n');
}

main().catch((error) => {
  process.stderr.write(`onnxruntime: ${error.message || error}\n`);
  process.exit(1);
});
