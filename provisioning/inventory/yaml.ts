/**
 * Ansible's YAML inventory format (the `yaml` inventory plugin):
 *   all:
 *     vars: {...}
 *     hosts: { name: {vars} | null, web[01:03]: ... }
 *     children: { group: { hosts: ..., vars: ..., children: ... } }
 * Every problem names the file and the line. Inventory plugins (`plugin: aws_ec2`, ...) are not supported.
 */
import { LineCounter, isMap, isScalar, parseDocument, type Node, type YAMLMap } from "yaml";
import { ANSIBLE_YAML } from "./ansible-yaml";
import { PatternError, expandHostPattern } from "./patterns";
import { type InventorySource, InventoryError, type Vars, emptySource } from "./source";

const GROUP_KEYS = ["hosts", "vars", "children"];

export function parseYamlInventory(text: string, file: string): InventorySource {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, ...ANSIBLE_YAML });
  const problems: string[] = [];
  const at = (n: Node | null | undefined) => `${file}:${n?.range ? lc.linePos(n.range[0]).line : 1}`;
  if (doc.errors.length) {
    throw new InventoryError(doc.errors.map((e) => `${file}:${e.linePos?.[0]?.line ?? 1}: invalid YAML: ${e.message.split("\n")[0]}`));
  }
  const r = emptySource();
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return r;
  if (!isMap(root)) throw new InventoryError([`${at(root)}: a YAML inventory is a mapping of groups (all:, ...)`]);
  const js = (n: unknown) => (n && typeof (n as Node).toJSON === "function" ? (n as Node).toJSON() : n);
  if (root.items.some((p) => isScalar(p.key) && p.key.value === "plugin")) {
    throw new InventoryError([`${at(root)}: inventory plugins (plugin: ...) are not supported; write the hosts out (INI or YAML), e.g. with npm run inventory`]);
  }
  const addGroup = (name: string, node: unknown, keyNode: Node | null, parent?: string) => {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      problems.push(`${at(keyNode)}: bad group name ${name} (letters, digits, "_" and "-")`);
      return;
    }
    if (!r.groupHosts.has(name)) r.groupHosts.set(name, new Set());
    if (parent) {
      if (!r.children.has(parent)) r.children.set(parent, new Set());
      r.children.get(parent)!.add(name);
    }
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return;
    if (!isMap(node)) {
      problems.push(`${at(node as Node)}: group ${name} must be a mapping with hosts:, vars:, children:`);
      return;
    }
    for (const pair of (node as YAMLMap).items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "?";
      const val = pair.value as Node | null;
      if (!GROUP_KEYS.includes(key)) {
        problems.push(`${at(pair.key as Node)}: group ${name}: unknown key ${key} (expected ${GROUP_KEYS.join(", ")})`);
        continue;
      }
      if (val === null || (isScalar(val) && val.value === null)) continue;
      if (!isMap(val)) {
        problems.push(`${at(val)}: group ${name}: ${key} must be a mapping`);
        continue;
      }
      if (key === "vars") {
        r.groupVars.set(name, { ...(r.groupVars.get(name) ?? {}), ...(js(val) as Vars) });
      } else if (key === "children") {
        for (const c of val.items) addGroup(isScalar(c.key) ? String(c.key.value) : "?", c.value, c.key as Node, name);
      } else {
        for (const h of val.items) {
          const pattern = isScalar(h.key) ? String(h.key.value) : "?";
          let names: string[];
          try {
            names = expandHostPattern(pattern);
          } catch (e) {
            if (!(e instanceof PatternError)) throw e;
            problems.push(`${at(h.key as Node)}: ${e.message}`);
            continue;
          }
          const hv = js(h.value);
          if (hv !== null && hv !== undefined && (typeof hv !== "object" || Array.isArray(hv))) {
            problems.push(`${at(h.value as Node)}: host ${pattern}: its value must be a mapping of variables (or empty)`);
            continue;
          }
          for (const n of names) {
            if (!r.hostVars.has(n)) {
              r.hostVars.set(n, {});
              r.hostOrder.push(n);
            }
            Object.assign(r.hostVars.get(n)!, (hv as Vars | null) ?? {});
            r.groupHosts.get(name)!.add(n);
          }
        }
      }
    }
  };
  for (const pair of root.items) addGroup(isScalar(pair.key) ? String(pair.key.value) : "?", pair.value, pair.key as Node);
  // Hosts directly under all: belong to "ungrouped" in Ansible; here they are simply in all.
  r.groupHosts.delete("all");
  r.children.delete("all");
  if (problems.length) throw new InventoryError(problems);
  return r;
}
