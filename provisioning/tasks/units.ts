/**
 * Shared by the tasks that install a systemd timer and its files (metrics publisher, redis backup):
 * the one-line account of what a run did, or what --check says it would do.
 */

/** "wrote a, b, enabled, started" / "would write a, b, enable, start". */
export function unitActions(changed: string[], enable: boolean, restart: boolean, start: boolean, check: boolean): string {
  const did = (done: string, todo: string) => (check ? `would ${todo}` : done);
  const actions = [
    changed.length > 0 && did(`wrote ${changed.join(", ")}`, `write ${changed.join(", ")}`),
    enable && did("enabled", "enable"),
    restart ? did("restarted", "restart") : start && did("started", "start"),
  ].filter(Boolean) as string[];
  return actions.join(", ").replace(/, would /g, ", ");
}
