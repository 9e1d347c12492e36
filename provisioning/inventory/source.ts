/** What an inventory file says, whatever its format (INI or YAML): hosts, groups, their variables. */
export type Vars = Record<string, unknown>;

export class InventoryError extends Error {
  constructor(public readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

export interface InventorySource {
  hostVars: Map<string, Vars>;
  hostOrder: string[];
  groupHosts: Map<string, Set<string>>;
  groupVars: Map<string, Vars>;
  children: Map<string, Set<string>>;
}

export const emptySource = (): InventorySource => ({ hostVars: new Map(), hostOrder: [], groupHosts: new Map(), groupVars: new Map(), children: new Map() });
