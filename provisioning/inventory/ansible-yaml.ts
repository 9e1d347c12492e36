/**
 * YAML as Ansible reads it (PyYAML, YAML 1.1 merge keys) for inventories, group_vars/host_vars and
 * -e @file: `<<: *anchor` merges (the `yaml` package leaves `<<` a plain key unless told), `!unsafe`
 * is a string taken as written (never templated), `!vault` an inline-encrypted value (refused, named).
 */
import type { CollectionTag, ScalarTag } from "yaml";

/** An inline `!vault |` value: not supported, reported with its file and variable. */
export class VaultValue {}

/** An `!unsafe` string: Ansible never templates it, so `{{` in it is just text. */
export class UnsafeString {
  constructor(readonly value: string) {}
}

const tags: ScalarTag[] = [
  { tag: "!vault", resolve: () => new VaultValue() },
  { tag: "!unsafe", resolve: (s: string) => new UnsafeString(s) },
];

/** Options of every YAML parse of inventory data. */
export const ANSIBLE_YAML: { merge: true; customTags: (ScalarTag | CollectionTag)[] } = { merge: true, customTags: tags };
