/** Throwaway inventories for the pure tests: files written to a temp dir, and the problems an InventoryError lists. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InventoryError, loadInventory } from "../../provisioning/inventory";

export function inventory(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "inv-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** One host `ast1` in group asterisk, with `yaml` as group_vars/asterisk.yml, loaded. */
export function loadAsteriskVars(yaml: string): ReturnType<typeof loadInventory> {
  return loadInventory(inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": yaml }), {});
}

export function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InventoryError) return e.problems;
    throw e;
  }
  throw new Error("expected an InventoryError");
}
