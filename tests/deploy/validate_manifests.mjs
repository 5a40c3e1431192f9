// Validates Kubernetes manifests offline against the Kubernetes API schemas
// (npm's kubernetes-models: types, required fields, enums, formats), plus
// what the API server would refuse that the schemas cannot say: a workload
// whose selector does not match its pod labels, a volume mount naming no
// volume. And one rule of ours: no Secret objects (secrets are created
// beside the manifests, never committed).
//   node validate_manifests.mjs NODE_MODULES_PARENT FILE.yaml...
// Prints one line per object; exits 1 when any object is invalid.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [modulesParent, ...files] = process.argv.slice(2);
const modules = join(modulesParent, "node_modules");
const { parseAllDocuments } = await import(join(modules, "yaml", "dist", "index.js"));

// The model class for apiVersion/kind: "apps/v1" -> apps/v1/<Kind>.js, "v1" -> v1/<Kind>.js.
async function modelFor(apiVersion, kind) {
  if (!/^[a-z0-9.\-]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z]+$/.test(kind)) return null;
  try {
    const module = await import(join(modules, "kubernetes-models", apiVersion, `${kind}.js`));
    return module[kind] ?? null;
  } catch {
    return null;
  }
}

function podTemplateChecks(object) {
  const problems = [];
  const spec = object.spec ?? {};
  const template = spec.template;
  if (!template) return problems;
  const labels = template.metadata?.labels ?? {};
  for (const [key, value] of Object.entries(spec.selector?.matchLabels ?? {})) {
    if (labels[key] !== value) problems.push(`spec.selector.matchLabels.${key}=${value} does not match the pod labels`);
  }
  const volumes = new Set((template.spec?.volumes ?? []).map((v) => v.name));
  for (const claim of spec.volumeClaimTemplates ?? []) volumes.add(claim.metadata?.name);
  for (const container of template.spec?.containers ?? []) {
    for (const mount of container.volumeMounts ?? []) {
      if (!volumes.has(mount.name)) problems.push(`container ${container.name} mounts volume ${mount.name}, which is not defined`);
    }
  }
  return problems;
}

let invalid = 0;
for (const file of files) {
  const documents = parseAllDocuments(readFileSync(file, "utf8"));
  let index = 0;
  for (const document of documents) {
    ++index;
    const where = `${file} document ${index}`;
    if (document.errors.length > 0) {
      console.log(`INVALID ${where}: YAML: ${document.errors[0].message}`);
      ++invalid;
      continue;
    }
    const object = document.toJS();
    if (object === null) continue;  // an empty document
    const name = `${object.kind ?? "?"}/${object.metadata?.name ?? "?"}`;
    const problems = [];
    const Model = await modelFor(String(object.apiVersion ?? ""), String(object.kind ?? ""));
    if (Model === null) {
      problems.push(`unknown apiVersion/kind ${object.apiVersion}/${object.kind}`);
    } else {
      try {
        new Model(object).validate();
      } catch (error) {
        problems.push(error.message);
      }
    }
    if (object.kind === "Secret") problems.push("a Secret is committed; reference one created with kubectl instead");
    problems.push(...podTemplateChecks(object));
    if (problems.length > 0) {
      console.log(`INVALID ${where} (${name}): ${problems.join("; ")}`);
      ++invalid;
    } else {
      console.log(`ok ${where} (${name})`);
    }
  }
}
process.exit(invalid > 0 ? 1 : 0);
