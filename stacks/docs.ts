/**
 * The tables in docs/ that restate the code, generated from it (`npm run docs` writes them;
 * __tests__/docs.test.ts fails while a doc is stale):
 * - docs/configuration.md, `<!-- settings -->`: every setting of an environment, from the doc
 *   comments of the module settings schemas (modules/*) and of the config types (stacks/config.ts),
 *   with its default and the dev and prod values (stacks/environments.ts).
 * - docs/state-takeover.md, `<!-- address-map -->`: the moved blocks of the prod stack.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "cdktf";
import * as ts from "typescript";
import { CampaignStack, movedBlocks } from "./campaign-stack";
import { commandLine } from "../lambdas/contracts/cli";
import type { z } from "zod";
import { AsteriskConfig, DatabaseConfig, LambdaFunctionConfig, LambdasConfig, ProxyConfig, RedisHostConfig } from "./config";
import { dev, prod } from "./environments";

const ROOT = join(__dirname, "..");

/** Where each section of an environment's config is declared: a settings schema or a config type. */
const SECTIONS: { key: string; file: string; name: string; only?: string[]; config?: z.ZodObject }[] = [
  { key: "", file: "stacks/config.ts", name: "CampaignConfig", only: ["project", "environment", "region", "tags"] },
  { key: "network", file: "stacks/config.ts", name: "NetworkConfig" },
  { key: "network.secretsManagerEndpoint", file: "stacks/config.ts", name: "SecretsManagerEndpointConfig" },
  { key: "database", config: DatabaseConfig, file: "modules/data/index.ts", name: "DatabaseSettings" },
  { key: "proxy", config: ProxyConfig, file: "modules/data/index.ts", name: "ProxySettings" },
  { key: "asterisk", config: AsteriskConfig, file: "modules/compute/index.ts", name: "AsteriskSettings" },
  { key: "redis", config: RedisHostConfig, file: "modules/compute/index.ts", name: "RedisSettings" },
  { key: "redis", file: "stacks/config.ts", name: "RedisConfig" },
  { key: "redis.elasticache", file: "modules/elasticache/index.ts", name: "ElasticacheSettings" },
  { key: "redis.backup", file: "stacks/config.ts", name: "RedisBackupConfig" },
  { key: "redis.backup", file: "modules/redis-backup/index.ts", name: "RedisBackupSettings", only: ["retentionDays", "kmsKeyArn"] },
  { key: "lambdas", config: LambdasConfig, file: "modules/lambdas/index.ts", name: "LambdasSettings" },
  { key: "lambdas", file: "stacks/config.ts", name: "LAMBDAS_STACK_SETTINGS" },
  { key: "lambdas.functions.<name>", config: LambdaFunctionConfig, file: "modules/lambdas/index.ts", name: "FunctionSettings" },
  { key: "monitoring", file: "stacks/config.ts", name: "MonitoringConfig" },
  { key: "monitoring", file: "modules/monitoring/index.ts", name: "MonitoringSettings", only: ["alarmEmail"] },
  { key: "protection", file: "stacks/config.ts", name: "ProtectionConfig" },
  { key: "backend", file: "stacks/config.ts", name: "BackendConfig" },
];

export interface Setting {
  key: string;
  default: string;
  meaning: string;
}

/** The documented members of a declaration: schema properties, interface or type-literal members. */
function members(file: string, name: string): { name: string; node: ts.Node }[] {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), "utf8"), ts.ScriptTarget.Latest, true);
  const functions = new Map<string, ts.FunctionDeclaration>();
  let declaration: ts.Node | undefined;
  source.forEachChild((node) => {
    if (ts.isFunctionDeclaration(node) && node.name) functions.set(node.name.text, node);
    // A settings schema (a const) wins over the type inferred from it of the same name.
    if ((ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) && node.name.text === name) declaration ??= node;
    if (ts.isVariableStatement(node)) {
      for (const d of node.declarationList.declarations) if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer) declaration = d.initializer;
    }
  });
  if (!declaration) throw new Error(`${file}: no declaration ${name}`);
  const found: { name: string; node: ts.Node }[] = [];
  const fromObject = (o: ts.ObjectLiteralExpression): void => {
    for (const p of o.properties) {
      if (ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) found.push({ name: p.name.text, node: p });
      else if (ts.isSpreadAssignment(p) && ts.isCallExpression(p.expression) && ts.isIdentifier(p.expression.expression)) {
        const fn = functions.get(p.expression.expression.text);
        fn?.body?.statements.forEach((s) => {
          if (ts.isReturnStatement(s) && s.expression && ts.isObjectLiteralExpression(s.expression)) fromObject(s.expression);
        });
      }
    }
  };
  const walk = (node: ts.Node): void => {
    if (ts.isObjectLiteralExpression(node)) return fromObject(node);
    if (ts.isCallExpression(node)) {
      // section({...}).superRefine(...): the shape is the first object argument down the chain.
      const shape = node.arguments.find(ts.isObjectLiteralExpression);
      // modes({ create: section({...}), existing: section({...}) }): every variant's keys.
      if (shape && ts.isIdentifier(node.expression) && node.expression.text === "modes") {
        for (const variant of shape.properties) if (ts.isPropertyAssignment(variant)) walk(variant.initializer);
        return;
      }
      // X.safeExtend({...}): the keys it adds (X is documented where it is declared).
      if (shape && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "safeExtend") return fromObject(shape);
      if (shape && !ts.isPropertyAccessExpression(node.expression)) return fromObject(shape);
      if (ts.isPropertyAccessExpression(node.expression)) return walk(node.expression.expression);
      if (shape) return fromObject(shape);
      return;
    }
    if (ts.isInterfaceDeclaration(node) || ts.isTypeLiteralNode(node)) {
      for (const m of node.members) if (ts.isPropertySignature(m) && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) found.push({ name: m.name.text, node: m });
      return;
    }
    if (ts.isTypeAliasDeclaration(node)) return walk(node.type);
    if (ts.isUnionTypeNode(node) || ts.isIntersectionTypeNode(node)) node.types.forEach(walk);
  };
  walk(declaration);
  return found;
}

/** A member's doc comment as one line, and its default (`@default x`, or "Default: x." in prose). */
function describe(node: ts.Node): { meaning: string; default: string } {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const text = docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? "").join(" ");
  const tag = docs.flatMap((d) => d.tags ?? []).find((t) => t.tagName.text === "default");
  let meaning = text.replace(/\s+/g, " ").trim();
  let value = tag ? (ts.getTextOfJSDocComment(tag.comment) ?? "").replace(/\s+/g, " ").trim() : "";
  if (!tag) {
    const prose = /\s*Default: (.+?)(?:\.(?=\s|$)|$)/.exec(meaning);
    if (prose) {
      value = prose[1].trim();
      meaning = meaning.replace(prose[0], " ").trim();
    }
  }
  return { meaning, default: value || (optional(node) ? "unset" : "required") };
}

/** Whether a member may be left out: `key?:` in a type, `.optional()` in a schema. */
function optional(node: ts.Node): boolean {
  if (ts.isPropertySignature(node)) return node.questionToken !== undefined;
  return ts.isPropertyAssignment(node) && /\.optional\(\)\s*$/.test(node.initializer.getText());
}

/** Every setting of an environment, section by section, in declaration order. */
export function settings(): Setting[] {
  const rows = new Map<string, Setting>();
  for (const section of SECTIONS) {
    for (const m of members(section.file, section.name)) {
      if (section.only && !section.only.includes(m.name)) continue;
      if (ts.getJSDocTags(m.node).some((t) => t.tagName.text === "deprecated")) continue; // a removed setting, kept to say where it went
      const key = section.key ? `${section.key}.${m.name}` : m.name;
      if (SECTIONS.some((s) => s.key === key)) continue; // a section of its own
      const d = describe(m.node);
      // A module setting the environment must set: its default is the module's, for other callers.
      const field = section.config?.shape[m.name] as z.ZodType | undefined;
      if (field && !field.safeParse(undefined).success && d.default !== "required") {
        d.meaning = `${d.meaning} Module default: ${d.default}.`.trim();
        d.default = "required";
      }
      const seen = rows.get(key);
      // A union declares some keys in each member: keep the first description that says something.
      if (!seen || (!seen.meaning && d.meaning)) rows.set(key, { key, ...d });
    }
  }
  return [...rows.values()];
}

/** The value an environment sets at `key` (undefined when unset). */
function valueAt(config: unknown, key: string): unknown {
  return key.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), config);
}

const cell = (text: string): string => text.replace(/\|/g, "\\|");
const shown = (v: unknown): string => {
  if (v === undefined) return "–";
  const json = JSON.stringify(v);
  return json.length > 60 ? "see stacks/environments.ts" : `\`${json}\``;
};

/** The settings table of docs/configuration.md. */
export function renderSettings(): string {
  const lines = ["| key | default | dev | prod | meaning |", "|---|---|---|---|---|"];
  for (const s of settings()) {
    const values = s.key.includes("<name>") ? ["see stacks/environments.ts", "see stacks/environments.ts"] : [shown(valueAt(dev, s.key)), shown(valueAt(prod, s.key))];
    lines.push(`| \`${s.key}\` | ${cell(s.default)} | ${values.map(cell).join(" | ")} | ${cell(s.meaning)} |`);
  }
  return lines.join("\n");
}

/** The old -> new address table of docs/state-takeover.md, from the prod stack's moved blocks. */
export function renderAddressMap(): string {
  const stack = new CampaignStack(new App({ outdir: join(tmpdir(), "campaign-docs") }), prod);
  const lines = ["| old address (HCL modules) | new address (CDKTF) |", "|---|---|"];
  for (const m of movedBlocks(stack)) lines.push(`| \`${m.from}\` | \`${m.to}\` |`);
  return lines.join("\n");
}

/** The generated blocks: doc file, marker, and content. */
export function generatedBlocks(): { file: string; marker: string; content: string }[] {
  return [
    { file: "docs/configuration.md", marker: "settings", content: renderSettings() },
    { file: "docs/state-takeover.md", marker: "address-map", content: renderAddressMap() },
  ];
}

const block = (marker: string) => new RegExp(`(<!-- ${marker} -->\\n)[\\s\\S]*?(<!-- /${marker} -->)`);

/** The doc's text with its block regenerated (throws when the markers are missing). */
export function regenerate(text: string, marker: string, content: string): string {
  if (!block(marker).test(text)) throw new Error(`no <!-- ${marker} --> ... <!-- /${marker} --> block`);
  return text.replace(block(marker), (_m, open: string, close: string) => `${open}${content}\n${close}`);
}

const USAGE = `usage: npm run docs [-- --check]

Regenerates the tables in docs/ that restate the code: the configuration reference
(docs/configuration.md) and the old -> new address map (docs/state-takeover.md).

  --check      change nothing; exit 1 and name the stale docs
  -h, --help   this text`;

function main(): void {
  const args = commandLine(USAGE, { options: { check: { type: "boolean" } } });
  if (!args) return;
  const stale: string[] = [];
  for (const { file, marker, content } of generatedBlocks()) {
    const path = join(ROOT, file);
    const text = readFileSync(path, "utf8");
    const next = regenerate(text, marker, content);
    if (next === text) continue;
    stale.push(file);
    if (!args.values.check) writeFileSync(path, next);
  }
  if (args.values.check && stale.length > 0) {
    process.stderr.write(`stale: ${stale.join(", ")} (run npm run docs)\n`);
    process.exit(1);
  }
  process.stdout.write(stale.length ? `${args.values.check ? "stale" : "wrote"}: ${stale.join(", ")}\n` : "docs are current\n");
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    // A bad command line, or a doc without its markers: the message, no stack trace.
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}
