// The node driver of bench/peers/llamacpp: real llama.cpp (node-llama-cpp's prebuilt CPU binaries) on a GGUF
// file, greedy decode from given prompt token ids, the ids and the timings as one JSON object on stdout.
//
// Usage: node bench/peers/llamacpp.mjs --node-llama-cpp DIR --model FILE.gguf --gen G
//                                      (--prompt ID,ID,... | --prompt-tokens P [--seed 1])
//                                      [--threads 1] [--kv f32|f16] [--flash-attention] [--margins] [--verbose]
//   --prompt-tokens P --seed S: the prompt `cpet bench decode --prompt-tokens P --seed S` uses
//   (P ids splitmix64(S) % vocab), so the greedy ids compare with its JSON's greedy_ids.
//   DIR: where `npm install --prefix DIR node-llama-cpp@3.21.1` put it. The prebuilt binaries are used as they
//   are: gpu false, build "never", skipDownload, so nothing is fetched or compiled at run time.
//   Like `cpet bench decode`: the prompt goes in as one batch, then G single-token steps, each fed the previous
//   greedy token. greedy_ids are the G tokens fed to those steps (the first from the prompt's logits); the ids
//   come straight from the argmax (temperature 0: llama.cpp's greedy sampler alone, no top-k/p, no repeat
//   penalty, no bias) and EOS does not stop the loop. A warm-up pass of up to 8 steps runs first, untimed.
//   Timings: the wall clock around the G steps (node's per-token overhead included) and llama.cpp's own
//   perf counters (llama_perf_context: prompt eval and eval time, decode only).
//   --margins: also each step's top-2 ids and their logit gap (ln p1/p2 over the full vocabulary), to tell a
//   numerical near-tie from a real difference where two runtimes' greedy ids part (slower: not for timing).
//   KV cache f32 and no flash attention by default: the oracle's settings, closest to cpet's f32 attention.
import path from "node:path";
import { pathToFileURL } from "node:url";

const fail = (msg) => { process.stderr.write(`llamacpp.mjs: ${msg}\n`); process.exit(2); };
const a = { threads: 1, kv: "f32", flash: false, verbose: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const s = argv[i], v = () => (i + 1 < argv.length ? argv[++i] : fail(`${s} needs a value`));
  if (s === "--node-llama-cpp") a.dir = v();
  else if (s === "--model") a.model = v();
  else if (s === "--prompt") a.prompt = v().split(",").filter((x) => x !== "").map(Number);
  else if (s === "--prompt-tokens") a.promptTokens = Number(v());
  else if (s === "--seed") a.seed = BigInt(v());
  else if (s === "--gen") a.gen = Number(v());
  else if (s === "--threads") a.threads = Number(v());
  else if (s === "--kv") a.kv = v();
  else if (s === "--flash-attention") a.flash = true;
  else if (s === "--margins") a.margins = true;
  else if (s === "--verbose") a.verbose = true;
  else fail(`unknown option ${s}`);
}
if (!a.dir || !a.model || !(a.prompt || a.promptTokens) || !a.gen)
  fail("--node-llama-cpp DIR, --model FILE.gguf, --prompt IDS or --prompt-tokens P, and --gen G are required");
if (a.promptTokens !== undefined && (a.prompt || !Number.isInteger(a.promptTokens) || a.promptTokens < 1))
  fail("--prompt-tokens: an integer >= 1, not with --prompt");
if (a.prompt && (!a.prompt.length || a.prompt.some((t) => !Number.isInteger(t) || t < 0))) fail("--prompt: comma-separated token ids");
if (!Number.isInteger(a.gen) || a.gen < 1 || !Number.isInteger(a.threads) || a.threads < 1) fail("--gen and --threads: integers >= 1");
if (a.kv !== "f32" && a.kv !== "f16") fail("--kv: f32 or f16");

const entry = path.resolve(a.dir, "node_modules/node-llama-cpp/dist/index.js");
let nlc;
try { nlc = await import(pathToFileURL(entry).href); } catch (e) { fail(`cannot load ${entry}: ${e.message}`); }
const { getLlama, LlamaLogLevel } = nlc;

const logs = []; // llama.cpp's log lines, kept for the timings and for errors
const logger = (level, message) => {
  logs.push({ level, message });
  if (a.verbose || level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`[llama.cpp ${level}] ${message}\n`);
};
const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true, progressLogs: false,
  maxThreads: 0, // so the context's thread count is the one used, not a hint
  logLevel: LlamaLogLevel.debug, logger,
});
let model;
try {
  model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0, useMmap: true, checkTensors: true });
} catch (e) {
  const tail = logs.filter((l) => l.level !== LlamaLogLevel.debug).slice(-20).map((l) => `  ${l.level}: ${l.message.trim()}`).join("\n");
  fail(`llama.cpp refused ${a.model}: ${e.message}\n${tail}`);
}
const V = model.fileInfo.metadata.llama?.vocab_size ?? model.tokens.vocabSize;
if (a.promptTokens) { // cpet's splitmix64 (engine/base/tensor.c), as bench/bench_decode.c draws its prompt
  const M = (1n << 64n) - 1n;
  let x = a.seed ?? 1n;
  a.prompt = [];
  for (let i = 0; i < a.promptTokens; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & M;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    a.prompt.push(Number((z ^ (z >> 31n)) % BigInt(V)));
  }
}
const P = a.prompt.length, G = a.gen;
for (const t of a.prompt) if (V && t >= V) fail(`prompt id ${t} is outside the vocabulary of ${V}`);
const kvType = a.kv === "f32" ? "F32" : "F16";
const context = await model.createContext({
  contextSize: P + G + 1, batchSize: Math.max(P, 1), sequences: 1, threads: a.threads, flashAttention: a.flash,
  performanceTracking: true, experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType,
  failedCreationRemedy: false,
});
const seq = context.getSequence();
const opts = { temperature: 0, yieldEogToken: true }; // nothing else: the sampler chain is llama.cpp's greedy sampler

// llama_perf_context_print's "eval time = X ms / N runs" lines; printTimings also resets the counters
const perf = async () => {
  const from = logs.length;
  await context.printTimings();
  const out = {};
  for (const { message } of logs.slice(from)) {
    const m = message.match(/(prompt eval|eval) time\s*=\s*([0-9.]+) ms\s*\/\s*([0-9]+) (?:tokens|runs)/);
    if (m) out[m[1] === "eval" ? "eval" : "prompt"] = { ms: Number(m[2]), n: Number(m[3]) };
  }
  return out;
};

// one pass: the prompt, then `steps` single-token decodes; returns the ids fed to them and the timings
async function pass(steps) {
  await seq.clearHistory();
  await perf(); // reset
  const ids = [], margins = [];
  const it = a.margins ? seq.evaluateWithMetadata(a.prompt, { probabilities: true }, opts) : seq.evaluate(a.prompt, opts);
  const tokenOf = (v) => {
    if (!a.margins) return v;
    const [[t1, p1], [t2, p2]] = [...v.probabilities.entries()].sort((x, y) => y[1] - x[1]).slice(0, 2);
    if (t1 !== v.token) throw new Error(`greedy token ${v.token} is not the most probable ${t1}`);
    margins.push({ top2: [t1, t2], gap: Math.log(p1 / p2) });
    return v.token;
  };
  const t0 = process.hrtime.bigint();
  let r = await it.next(); // the prompt as one batch -> the first greedy token
  const t1 = process.hrtime.bigint();
  const mid = await perf();
  for (let g = 0; g < steps; g++) {
    if (r.done) throw new Error(`generation stopped after ${ids.length} tokens`);
    ids.push(tokenOf(r.value));
    r = await it.next(); // decodes ids[g] (one token), samples the next
  }
  const t2 = process.hrtime.bigint();
  const end = await perf();
  await it.return();
  return { ids, margins, prompt_s: Number(t1 - t0) / 1e9, gen_s: Number(t2 - t1) / 1e9, prompt_perf: mid.prompt, eval_perf: end.eval };
}

await pass(Math.min(G, 8)); // warm-up: page in the weights, as cpet bench decode does
const r = await pass(G);
const loaded = logs.find((l) => /loaded CPU backend from/.test(l.message))?.message.trim().replace(/.*\//, "");
const result = {
  runtime: "llama.cpp",
  node_llama_cpp: JSON.parse((await import("node:fs")).readFileSync(path.resolve(a.dir, "node_modules/node-llama-cpp/package.json"), "utf8")).version,
  llama_cpp_release: llama.llamaCppRelease?.release,
  build_type: llama.buildType,
  cpu_backend: loaded ?? null,
  model: a.model,
  threads: context.currentThreads,
  kv_type: a.kv,
  flash_attention: a.flash,
  n_prompt: P,
  prompt_ids: a.prompt,
  n_gen: G,
  greedy_ids: r.ids,
  ...(a.margins ? { margins: r.margins } : {}),
  prompt_s: r.prompt_s,
  gen_s: r.gen_s,
  tg_ts_wall: G / r.gen_s,
  tg_ts: r.eval_perf ? (r.eval_perf.n * 1000) / r.eval_perf.ms : null, // llama.cpp's own eval counter
  tg_perf_runs: r.eval_perf?.n ?? null,
  pp_ts: r.prompt_perf ? (r.prompt_perf.n * 1000) / r.prompt_perf.ms : null,
};
process.stdout.write(JSON.stringify(result) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
