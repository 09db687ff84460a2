// Renders docs/api.md from the schemas: every field of every kind with its
// type, default, constraints and description. Pure; the generator formats the
// result with Prettier and writes it.
import { CATEGORY, GROUP, VERSION, type ResourceInfo, type ValidationRule } from "./common.types.ts";
import { plainSchema, type JsonSchema } from "./crd.ts";
import { KIND_SCHEMAS } from "./kind-schemas.ts";

export interface FieldDoc {
  path: string;
  type: string;
  required: boolean;
  default: string;
  description: string;
  constraints: string[];
}

function asSchema(value: unknown): JsonSchema | undefined {
  return typeof value === "object" && value !== null ? (value as JsonSchema) : undefined;
}

function typeName(s: JsonSchema): string {
  if (s["x-kubernetes-int-or-string"] === true) return "quantity (int or string)";
  const type = s.type;
  if (type === "array") {
    const items = asSchema(s.items);
    return `[]${items ? typeName(items) : "unknown"}`;
  }
  if (type === "object" && asSchema(s.additionalProperties)) {
    const values = asSchema(s.additionalProperties);
    return `map[string]${values ? typeName(values) : "unknown"}`;
  }
  if (type === "string" && typeof s.format === "string") return `string (${s.format})`;
  return typeof type === "string" ? type : "unknown";
}

function constraintsOf(s: JsonSchema): string[] {
  const out: string[] = [];
  if (Array.isArray(s.enum)) out.push(`One of: ${s.enum.map((v) => `\`${String(v)}\``).join(", ")}.`);
  const items = asSchema(s.items);
  if (items && Array.isArray(items.enum))
    out.push(`Items one of: ${items.enum.map((v) => `\`${String(v)}\``).join(", ")}.`);
  if (typeof s.minimum === "number") out.push(`Minimum ${s.minimum}.`);
  if (typeof s.maximum === "number") out.push(`Maximum ${s.maximum}.`);
  if (typeof s.minLength === "number") out.push(`Minimum length ${s.minLength}.`);
  if (typeof s.maxLength === "number") out.push(`Maximum length ${s.maxLength}.`);
  if (typeof s.minItems === "number") out.push(`At least ${s.minItems} item(s).`);
  if (typeof s.maxItems === "number") out.push(`At most ${s.maxItems} items.`);
  if (s["x-kubernetes-list-type"] === "set") out.push("Items are unique.");
  if (Array.isArray(s["x-kubernetes-list-map-keys"]))
    out.push(`Keyed by ${s["x-kubernetes-list-map-keys"].map((k) => `\`${String(k)}\``).join(", ")}.`);
  if (typeof s.pattern === "string") out.push(`Pattern \`${s.pattern}\`.`);
  const rules = s["x-kubernetes-validations"];
  if (Array.isArray(rules)) {
    for (const r of rules as ValidationRule[]) {
      if (r.message) out.push(`Rule: ${r.message}.`);
      else out.push(`Rule: \`${r.rule}\`.`);
    }
  }
  return out;
}

/** A default short enough for a table cell; a long one (a list of objects) is left to the description. */
function defaultText(value: unknown): string {
  if (value === undefined) return "";
  const json = JSON.stringify(value);
  return json.length <= 60 ? json : "see description";
}

/** Every field under `schema`, depth first, in authoring order. */
export function collectFields(schema: JsonSchema, prefix = ""): FieldDoc[] {
  const out: FieldDoc[] = [];
  const props = asSchema(schema.properties);
  if (!props) return out;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  for (const [name, raw] of Object.entries(props)) {
    const s = asSchema(raw);
    if (!s) continue;
    const path = prefix ? `${prefix}.${name}` : name;
    out.push({
      path,
      type: typeName(s),
      required: required.has(name),
      default: defaultText(s.default),
      description: typeof s.description === "string" ? s.description : "",
      constraints: constraintsOf(s),
    });
    out.push(...collectFields(s, path));
    const items = asSchema(s.items);
    if (items) out.push(...collectFields(items, `${path}[]`));
  }
  return out;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function kindSection(resource: ResourceInfo, schema: JsonSchema): string {
  const lines: string[] = [];
  lines.push(`## ${resource.kind}`, "");
  lines.push(resource.description, "");
  lines.push(
    `- API version: \`${resource.apiVersion}\``,
    `- Scope: ${resource.scope === "Cluster" ? "cluster" : "namespaced"}`,
    `- Plural: \`${resource.plural}\`, short names: ${resource.shortNames.map((n) => `\`${n}\``).join(", ")}, category \`${CATEGORY}\``,
    `- Printer columns: ${resource.printerColumns.map((c) => c.name.toUpperCase()).join(", ")}`,
  );
  if (resource.selectableFields?.length)
    lines.push(`- Field selectors: ${resource.selectableFields.map((f) => `\`${f}\``).join(", ")}`);
  const rootRules = constraintsOf(schema);
  if (rootRules.length) lines.push(`- Object rules: ${rootRules.join(" ")}`);
  lines.push("");
  for (const part of ["spec", "status"] as const) {
    const props = asSchema(schema.properties);
    const sub = asSchema(props?.[part]);
    if (!sub) continue;
    lines.push(`### ${resource.kind} ${part}`, "");
    const subRules = constraintsOf(sub);
    if (subRules.length) lines.push(subRules.join(" "), "");
    lines.push("| Field | Type | Default | Description |", "| --- | --- | --- | --- |");
    for (const f of collectFields(sub, part)) {
      const desc = [f.required ? "**Required.**" : "", f.description, ...f.constraints]
        .filter(Boolean)
        .join(" ");
      lines.push(
        `| \`${f.path}\` | ${cell(f.type)} | ${f.default && f.default !== "see description" ? `\`${cell(f.default)}\`` : f.default} | ${cell(desc)} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** docs/api.md, before formatting. */
export function renderApiReference(): string {
  const parts = [
    "<!-- Code generated by crds/scripts/generate.ts from crds/src/*.types.ts. DO NOT EDIT. -->",
    "",
    "# TDS API reference",
    "",
    `Group \`${GROUP}\`, version \`${VERSION}\`. Every kind has a status subresource with \`conditions\` (\`Ready\` plus kind-specific types, CamelCase reasons) and \`observedGeneration\`, belongs to the category \`${CATEGORY}\` (\`kubectl get ${CATEGORY}\` lists them all), and is validated by the API server itself with OpenAPI and CEL rules. \`kubectl explain <kind>.spec\` shows the same descriptions.`,
    "",
    "Conventions:",
    "",
    "- **Regions** are ISO 3166-1 alpha-2 codes, optionally followed by an ISO 3166-2 subdivision: `CN`, `CN-SH`, `DE-BY`.",
    '- **Money** is never a float: amounts are exact decimal strings with at most 6 fractional digits (`"0.0125"`) in the space\'s ISO 4217 currency; fees are basis points.',
    "- **Quantities** are Kubernetes quantities (`500m`, `2`, `100Gi`), given as a string or an integer.",
    "- **Names** of DataSpaces and Participants are DNS-1123 labels; a participant's namespace is `<space>--<participant>` and must fit in 63 characters.",
    "- **Evidence**: every status has `latestEvidence`, the index and leaf hash of the last entry about the object in the space's evidence log.",
    "",
    ...KIND_SCHEMAS.map((k) => kindSection(k.resource, plainSchema(k.schema))),
  ];
  return parts.join("\n");
}
