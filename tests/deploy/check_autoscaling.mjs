// Checks what ties the optional worker autoscaler (deploy/kubernetes/
// autoscaling/) to the rest, which no schema can say:
// - the HorizontalPodAutoscaler scales the worker Deployment of workers.yaml,
//   between 1 and 8 replicas, with a scale-down stabilisation window;
// - each metric it reads is an External metric that a prometheus-adapter
//   rule of the ConfigMap's config.yaml serves (its name.as);
// - each rule's seriesQuery names a series qatlab-server really exports, and
//   each `state` its metricsQuery selects is one the server reports: checked
//   against a scrape of the real server's /metrics (SCRAPE.txt).
//   node check_autoscaling.mjs NODE_MODULES_PARENT HPA.yaml ADAPTER.yaml WORKERS.yaml SCRAPE.txt
// Prints one line per finding; exits 1 when anything does not hold.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [modulesParent, hpaFile, adapterFile, workersFile, scrapeFile] = process.argv.slice(2);
const { parseAllDocuments, parse } = await import(join(modulesParent, "node_modules", "yaml", "dist", "index.js"));

const objects = (file) => parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).filter((o) => o !== null);
const problems = [];
const fail = (message) => problems.push(message);

// The exposition format: `name{labels} value` or `name value`; comments start with '#'.
const samples = readFileSync(scrapeFile, "utf8")
  .split("\n")
  .filter((line) => line !== "" && !line.startsWith("#"))
  .map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
    if (match === null) return null;
    const labels = {};
    for (const pair of (match[2] ?? "").slice(1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1]] = pair[2];
    return { name: match[1], labels };
  })
  .filter((sample) => sample !== null);
if (samples.length === 0) fail(`${scrapeFile}: no samples: not a scrape of /metrics`);

// The adapter's rules: ConfigMap data["config.yaml"], itself YAML.
const served = new Map();  // external metric name -> rule
for (const object of objects(adapterFile)) {
  if (object.kind !== "ConfigMap") continue;
  const text = object.data?.["config.yaml"];
  if (typeof text !== "string") {
    fail(`ConfigMap/${object.metadata?.name}: no data key config.yaml`);
    continue;
  }
  let config;
  try {
    config = parse(text);
  } catch (error) {
    fail(`ConfigMap/${object.metadata?.name}: config.yaml is not YAML: ${error.message}`);
    continue;
  }
  const rules = config?.externalRules ?? [];
  if (rules.length === 0) fail(`ConfigMap/${object.metadata?.name}: config.yaml has no externalRules`);
  for (const rule of rules) {
    const series = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|$)/.exec(rule.seriesQuery ?? "");
    if (series === null) {
      fail(`rule ${JSON.stringify(rule.seriesQuery)}: the seriesQuery names no metric`);
      continue;
    }
    const metric = series[1];
    const exported = samples.filter((sample) => sample.name === metric);
    if (exported.length === 0) {
      fail(`rule for ${metric}: qatlab-server exports no series ${metric} (its /metrics has ${[...new Set(samples.map((s) => s.name))].join(", ")})`);
    }
    const selected = /state=~?"([^"]*)"/.exec(rule.metricsQuery ?? "");
    if (selected !== null) {
      for (const state of selected[1].split("|")) {
        if (!exported.some((sample) => sample.labels.state === state)) fail(`rule for ${metric}: qatlab-server reports no ${metric}{state="${state}"}`);
      }
    }
    if (!rule.metricsQuery?.includes("<<.Series>>")) fail(`rule for ${metric}: the metricsQuery does not query <<.Series>>`);
    if (rule.resources?.overrides?.namespace?.resource !== "namespace") fail(`rule for ${metric}: the namespace label is not mapped to the namespace resource`);
    const name = rule.name?.as ?? metric;
    served.set(name, rule);
    console.log(`ok adapter rule: external metric ${name} from ${metric} (${exported.length} series in the scrape)`);
  }
}

const deployments = objects(workersFile).filter((o) => o.kind === "Deployment");
const hpas = objects(hpaFile).filter((o) => o.kind === "HorizontalPodAutoscaler");
if (hpas.length === 0) fail(`${hpaFile}: no HorizontalPodAutoscaler`);
for (const hpa of hpas) {
  const where = `HorizontalPodAutoscaler/${hpa.metadata?.name}`;
  const spec = hpa.spec ?? {};
  const target = spec.scaleTargetRef ?? {};
  if (!deployments.some((d) => target.apiVersion === d.apiVersion && target.kind === d.kind && target.name === d.metadata?.name)) {
    fail(`${where}: scaleTargetRef ${target.apiVersion}/${target.kind}/${target.name} is no Deployment of ${workersFile}`);
  }
  const min = spec.minReplicas ?? 1;
  if (!(min >= 1 && spec.maxReplicas <= 8 && min <= spec.maxReplicas)) fail(`${where}: replicas ${min}..${spec.maxReplicas}; want within 1..8`);
  if (!(spec.behavior?.scaleDown?.stabilizationWindowSeconds >= 60)) fail(`${where}: no scale-down stabilizationWindowSeconds of at least 60`);
  for (const metric of spec.metrics ?? []) {
    if (metric.type !== "External") {
      fail(`${where}: a ${metric.type} metric; the queue is an External metric`);
      continue;
    }
    const name = metric.external?.metric?.name;
    if (!served.has(name)) fail(`${where}: external metric ${name} is served by no adapter rule (they serve ${[...served.keys()].join(", ")})`);
  }
  if ((spec.metrics ?? []).length === 0) fail(`${where}: no metrics`);
  console.log(`${where}: scales ${target.kind}/${target.name} ${min}..${spec.maxReplicas}`);
}

for (const problem of problems) console.log(`INVALID ${problem}`);
process.exit(problems.length > 0 ? 1 : 0);
